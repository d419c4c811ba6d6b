"""The anchor of `bench.train --against trl`: TRL's `GRPOTrainer` at the shapes of ours.

Same checkpoint directory (a random Qwen2 written by `train.setup.build_tiny_model`), same
chat-templated prompts, same group size, completion length, temperature, LoRA (PEFT, same
rank / alpha / projections), beta, learning rate and loss normalisation ("grpo": mean over
sequences of the per-sequence token mean). The reward function runs the project's verifier
on the completions, as our trainer does, and then returns pseudo-random scores, so that every
group has spread and every row trains on both sides (`bench.train`'s CPU mode does the same).

A step is one optimizer step: generation (`transformers.generate` inside TRL), the reward,
the reference pass (PEFT adapter disabled) and forward + backward over every completion.
Its time is the wall time between consecutive `on_step_end` callbacks, so nothing of the
step is left out. TRL's own defaults stay as they are otherwise (its gradient
checkpointing included: turned off, TRL 1.16 took 40-60 s a step on the 2-core VM instead
of ~4.5 s).

It runs in a process of its own (`python -m gamecwm_jax.bench.trl_grpo`, started by
`bench.train --against trl`): in a process where JAX has run, XLA's CPU thread pool and
torch's compete for the two cores and torch's steps took 10x longer. Needs the `bench`
extra (TRL, PEFT, datasets, CPU torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrlShapes:
    """What both trainers run (the defaults of `bench.train --against trl`)."""

    prompts_per_step: int = 4
    group_size: int = 8
    new_tokens: int = 128
    temperature: float = 0.6
    lora_rank: int = 16
    lora_alpha: float = 32.0
    beta: float = 0.1
    lr: float = 2e-5
    micro_batch: int = 8  # ours: rows per pass (a group, the recipe's); one update a step
    trl_micro_batch: int = 32  # TRL's per-device batch: the whole step in one pass
    threads: int = 0  # torch intra-op threads (0: torch's default)
    # Issue 11's ~90-token prompts are the chat template's default system line and the
    # game's name (86-93 tokens here); the project's own system prompt makes them 118-125,
    # which favours us (each prompt runs once in our update, G times in TRL's).
    system_prompt: bool = False


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def run_trl(
    model_dir: str,
    prompts: list[str],
    shapes: TrlShapes,
    steps: int,
    verify_fn: Any,
    seed: int = 0,
) -> dict[str, Any]:
    """`steps` GRPO steps of TRL; per-step wall times (the first one compiles nothing but
    warms torch's allocator and oneDNN kernels, so it is reported apart)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    if shapes.threads:
        torch.set_num_threads(shapes.threads)
    rows = shapes.prompts_per_step * shapes.group_size
    rng = np.random.default_rng(seed)

    spent = {"generate": 0.0, "reward": 0.0}  # seconds, summed since the last step ended

    def reward(completions: list[str], **kw: Any) -> list[float]:
        t0 = time.perf_counter()
        verify_fn(completions)
        spent["reward"] += time.perf_counter() - t0
        return rng.random(len(completions)).tolist()

    from transformers.generation.utils import GenerationMixin

    real_generate = GenerationMixin.generate

    def timed_generate(self: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_generate(self, *a, **k)
        finally:
            spent["generate"] += time.perf_counter() - t0

    GenerationMixin.generate = timed_generate

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    data = Dataset.from_dict({"prompt": [prompts[i % len(prompts)] for i in range(rows * steps)]})
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench_trl_"),
        per_device_train_batch_size=shapes.trl_micro_batch,
        gradient_accumulation_steps=rows // shapes.trl_micro_batch,
        num_generations=shapes.group_size,
        max_completion_length=shapes.new_tokens,
        temperature=shapes.temperature,
        top_p=1.0,
        top_k=0,
        beta=shapes.beta,
        learning_rate=shapes.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        loss_type="grpo",
        max_steps=steps,
        num_train_epochs=1,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        fp16=False,
        disable_dropout=True,
        seed=seed,
        dataloader_num_workers=0,
        shuffle_dataset=False,
    )
    stamps: list[float] = []
    parts: list[dict[str, float]] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            stamps.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            stamps.append(time.perf_counter())
            parts.append(dict(spent))
            spent.update(generate=0.0, reward=0.0)

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=shapes.lora_rank,
            lora_alpha=shapes.lora_alpha,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
            task_type="CAUSAL_LM",
        ),
        callbacks=[Clock()],
    )
    try:
        trainer.train()
    finally:
        GenerationMixin.generate = real_generate
    step_s = np.diff(stamps).tolist()
    # The rest of a step: the reference pass (adapter off), forward + backward, AdamW.
    update_s = [t - p["generate"] - p["reward"] for t, p in zip(step_s, parts)]
    logs = [h for h in trainer.state.log_history if "loss" in h]
    lengths = [h["completions/mean_length"] for h in logs if "completions/mean_length" in h]
    return {
        "first_step_s": step_s[0],
        "step_s": step_s[1:],
        "median_step_s": statistics.median(step_s[1:] or step_s),
        "median_generate_s": statistics.median([p["generate"] for p in parts[1:] or parts]),
        "median_update_s": statistics.median(update_s[1:] or update_s),
        "completion_len_mean": float(np.mean(lengths)) if lengths else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """`--model_dir D --prompts prompts.json --steps N --out result.json [--shapes JSON]`;
    prompts.json holds the chat-templated prompt strings and each one's game."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model_dir", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--shapes", default="{}", help="TrlShapes fields as JSON")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from gamecwm_jax.verify import RewardConfig, Verifier

    shapes = TrlShapes(**json.loads(a.shapes))
    spec = json.load(open(a.prompts))
    games = [g for g in spec["games"] for _ in range(shapes.group_size)]
    with Verifier(num_workers=2, config=RewardConfig.fast()) as verifier:
        result = run_trl(
            a.model_dir,
            spec["prompts"],
            shapes,
            a.steps,
            lambda texts: verifier.verify_batch(list(zip(texts, games[: len(texts)]))),
        )
    result["shapes"] = dataclasses.asdict(shapes)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
