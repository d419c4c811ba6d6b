"""The config schema (every key with its default) and the command-line plumbing.

Config files in `configs/` start from `default_config()` and change values; the
command line overrides single keys (`--config.rl.group_size=4`). Both are
checked against this schema: a key that is not in it is a typo, reported with
the closest valid names before any work starts.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any, Callable

import ml_collections


def _lora(rank: int, alpha: float, dropout: float, targets: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(rank=rank, alpha=alpha, dropout=dropout, targets=targets))


def default_config() -> ml_collections.ConfigDict:
    """The seed recipe for Qwen2.5-3B-Instruct (see seed-facts.md), one accelerator."""
    c = ml_collections.ConfigDict()
    c.workdir = "runs/qwen25_3b"  # checkpoints, logs, exports; a rerun resumes from here
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.path = "checkpoints/Qwen2.5-3B-Instruct"  # HF dir, hub id, or "tiny-random"
    c.model.dtype = "bfloat16"  # base weights and activations; LoRA weights are fp32
    c.model.remat = True  # rematerialise decoder layers in the backward pass
    # Only for model.path == "tiny-random": a random Qwen2 with a BPE tokenizer trained
    # on the dataset's prompts and goldens, generated into `<workdir>/base_model`.
    c.model.tiny = ml_collections.ConfigDict(
        dict(
            vocab_size=2048,
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            seed=0,
        )
    )

    c.data = ml_collections.ConfigDict()
    c.data.train_games = "train"  # "train" | "test" | "all" | "a,b,c"
    c.data.use_system_prompt = True  # prompts.SYSTEM_PROMPT as the system turn
    # "full": rules + interface + instructions (games.prompts.build_prompt), the real task.
    # "name": one line naming the game; only for tiny CPU models that cannot read rules anyway
    # (it cuts the sequence length, hence the step time, by more than half).
    c.data.prompt_style = "full"
    # SFT on a menu of whole programs per game instead of the golden alone:
    # "game:mutant_a+mutant_b;game2:..." names rule mutants of games/<game>/mutants.json;
    # every subset of them applied to the golden is one SFT program (train/menu.py).
    # GRPO then logs the exact probability of every menu program each step. "" = off.
    c.data.menu = ""

    c.sft = ml_collections.ConfigDict()
    c.sft.epochs = 2.0  # 0 skips SFT
    c.sft.steps = 0  # > 0 overrides epochs (optimizer steps)
    c.sft.batch_size = 1  # sequences per micro-batch
    c.sft.grad_accum = 4  # micro-batches per optimizer step
    c.sft.lr = 1e-5
    c.sft.warmup_frac = 0.03
    c.sft.schedule = "cosine"  # cosine | constant | linear
    c.sft.weight_decay = 0.0
    c.sft.max_grad_norm = 1.0
    c.sft.max_len = 6000  # prompt + golden tokens; longer pairs are skipped (and logged)
    c.sft.bucket = 256  # pad lengths up to a multiple of this (few distinct shapes to compile)
    c.sft.curriculum = True  # tier order in each epoch instead of a shuffle
    c.sft.logprob_chunk = 512
    c.sft.lora = _lora(16, 32.0, 0.05, "q,k,v,o")

    c.rl = ml_collections.ConfigDict()
    c.rl.steps = 200  # 0 skips GRPO
    c.rl.prompts_per_step = 4
    c.rl.group_size = 8
    # Completions per forward/backward; 8 = a whole group, so kept groups fill micro-batches
    # exactly. For 8 rows of 4096 + 4096 tokens XLA's compile-time buffer assignment
    # (`python -m gamecwm_jax.bench.train --preset 3b --memory_only`, on XLA:CPU: an estimate,
    # not a GPU measurement) puts the 3B update at 34 GiB with the model's query-blocked
    # attention (`attn_block`), vs 129 GiB if attention held [B, N, T, S] fp32 scores at once.
    c.rl.micro_batch_size = 8
    c.rl.inner_steps = 1  # optimizer updates per sampled batch (> 1 uses the clip)
    c.rl.loss = "grpo"  # grpo | dr_grpo | token_mean
    c.rl.beta = 0.1  # k3 KL to the LoRA-off reference; 0 skips the reference pass
    c.rl.clip_eps_low = 0.2
    c.rl.clip_eps_high = 0.2
    c.rl.adv_eps = 1e-4
    # Weight of negative advantages: 1 is GRPO; 0 updates only on samples that beat their
    # group's mean (positive sample reinforcement); see losses.group_advantages.
    c.rl.neg_weight = 1.0
    # The control run: "shuffle" permutes each group's rewards before the advantages (same
    # update sizes, no information from the verifier); "zero" zeroes every advantage (no
    # update). The logged rewards are always the true ones. "none" is GRPO.
    c.rl.control = "none"
    c.rl.lr = 2e-5
    c.rl.warmup_frac = 0.0
    c.rl.schedule = "constant"
    c.rl.weight_decay = 0.0
    c.rl.max_grad_norm = 0.1
    c.rl.temperature = 0.6
    c.rl.max_prompt_len = 4096
    c.rl.max_new_tokens = 4096
    c.rl.logprob_chunk = 512
    # Sample from base + LoRA folded into one copy of the adapted weights (fewer kernels a
    # decode step; costs that copy's memory while sampling). Off: LoRA applied on the side.
    c.rl.merge_lora_for_sampling = True
    # Old log-probs for inner_steps > 1: sampler | recompute (a forward pass of the sampling
    # policy). With one update per batch they are the training forward's own (stop-gradient).
    c.rl.old_logprobs = "sampler"
    c.rl.curriculum = True  # tiers in order, epochs_per_tier passes each, then all games
    c.rl.epochs_per_tier = 2
    c.rl.init_from_sft = True  # merge the SFT adapter (this workdir's, or sft_adapter) first
    c.rl.sft_adapter = ""  # explicit SFT adapter dir (default: <workdir>/sft/adapter)
    c.rl.lora = _lora(16, 64.0, 0.0, "q,k,v,o,gate,up,down")

    c.verify = ml_collections.ConfigDict()
    c.verify.num_workers = 0  # 0 = the verifier's default (one per core)
    c.verify.fast = False  # RewardConfig.fast(): the same checks on fewer rollouts

    # The device mesh (gamecwm_jax/parallel.py): axis sizes, -1 = the devices left over.
    # data: batch rows, weights replicated; fsdp: rows, and the base weights split along
    # the model width; tensor: heads / MLP columns / vocab split. The default, every
    # device on `data`, is the unsharded program on one device. rl.prompts_per_step,
    # rl.micro_batch_size and sft.batch_size must be multiples of data x fsdp.
    # distributed: jax.distributed.initialize() on a multi-host launch ("auto": when the
    # environment shows one; "on" / "off" force it).
    c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1, distributed="auto"))

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 10  # steps
    c.checkpoint.keep = 3

    c.log = ml_collections.ConfigDict()
    c.log.tensorboard = True
    c.log.progress = True
    c.log.plot_every = 10

    c.eval = ml_collections.ConfigDict()
    c.eval.games = "test"
    c.eval.samples = 10
    c.eval.temperature = 0.3
    c.eval.max_new_tokens = 4096
    c.eval.batch_size = 8  # completions per sampler call
    c.eval.at_end = False  # run eval on eval.games after GRPO

    c.export = ml_collections.ConfigDict()
    c.export.at_end = True  # PEFT adapter + merged safetensors under <workdir>/export
    c.export.dtype = "bfloat16"
    return c


def _flat_keys(c: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in c.items():
        if isinstance(v, ml_collections.ConfigDict):
            out.update(_flat_keys(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class ConfigError(ValueError):
    """A config key or value that does not exist or cannot work."""


def closest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def validate(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks every key exists in the schema and the enumerated values are known."""
    schema = _flat_keys(default_config())
    got = _flat_keys(c)
    unknown = sorted(set(got) - set(schema))
    if unknown:
        raise ConfigError(
            "unknown config key(s): " + "; ".join(f"{k}{closest(k, list(schema))}" for k in unknown)
        )
    from gamecwm_jax.train.losses import LOSS_VARIANTS

    choices = {
        "rl.loss": LOSS_VARIANTS,
        "sft.schedule": SCHEDULES,
        "rl.schedule": SCHEDULES,
        "rl.old_logprobs": ("sampler", "recompute"),
        "rl.control": CONTROLS,
        "data.prompt_style": ("full", "name"),
        "model.dtype": ("float32", "bfloat16", "float16"),
        "mesh.distributed": ("auto", "on", "off"),
    }
    for key, allowed in choices.items():
        if got[key] not in allowed:
            raise ConfigError(f"config.{key}={got[key]!r} is not one of {', '.join(allowed)}")
    positive = [
        "rl.group_size",
        "rl.prompts_per_step",
        "rl.micro_batch_size",
        "rl.inner_steps",
        "sft.batch_size",
        "sft.grad_accum",
        "checkpoint.every",
        "checkpoint.keep",
        "rl.max_new_tokens",
        "rl.max_prompt_len",
        "eval.samples",
    ]
    for key in positive:
        if got[key] <= 0:
            raise ConfigError(f"config.{key} must be positive, got {got[key]}")
    sizes = {k: got[f"mesh.{k}"] for k in ("data", "fsdp", "tensor")}
    bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or v == 0 or v < -1}
    if bad:
        raise ConfigError(
            f"config.mesh sizes must be positive integers or -1 (the devices left over), got {bad}"
        )
    if list(sizes.values()).count(-1) > 1:
        raise ConfigError(f"config.mesh: only one axis may be -1, got {sizes}")
    if got["rl.neg_weight"] < 0:
        raise ConfigError(f"config.rl.neg_weight must be >= 0, got {got['rl.neg_weight']}")
    if c.rl.group_size < 2 and c.rl.steps > 0:
        raise ConfigError(
            "config.rl.group_size must be >= 2: group-relative advantages need a group"
        )
    return c


SCHEDULES = ("cosine", "constant", "linear")
CONTROLS = ("none", "shuffle", "zero")


def make_schedule(name: str, lr: float, total_steps: int, warmup_frac: float) -> Callable:
    """optax schedule: linear warm-up over warmup_frac of the steps, then `name`."""
    import optax

    total = max(int(total_steps), 1)
    warmup = int(round(warmup_frac * total))
    if name == "constant":
        body = optax.constant_schedule(lr)
    elif name == "linear":
        body = optax.linear_schedule(lr, 0.0, max(total - warmup, 1))
    else:
        body = optax.cosine_decay_schedule(lr, max(total - warmup, 1))
    if warmup == 0:
        return body
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), body], [warmup])


def make_optimizer(
    lr: float,
    total_steps: int,
    warmup_frac: float,
    schedule: str,
    weight_decay: float,
    max_grad_norm: float,
):
    """AdamW with global-norm clipping; returns (optimizer, schedule)."""
    import optax

    sched = make_schedule(schedule, lr, total_steps, warmup_frac)
    chain = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm > 0 else []
    chain.append(optax.adamw(sched, b1=0.9, b2=0.999, eps=1e-8, weight_decay=weight_decay))
    return optax.chain(*chain), sched


def parse_flags_with_hints(argv: list[str]) -> list[str]:
    """absl flag parsing that turns an unknown `--config.x` into a clear hint.

    Used as `app.run(main, flags_parser=parse_flags_with_hints)`; exits with
    status 2 and one line on stderr, before anything is loaded or written.
    """
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
        # ml_collections raises AttributeError for an unknown `--config.a.b` key.
        msg = str(e)
        bad = [a.split("=", 1)[0].lstrip("-") for a in argv[1:] if a.startswith("--config.")]
        schema = ["config." + k for k in _flat_keys(default_config())]
        hints = [f"{b}{closest(b, schema)}" for b in bad if b not in schema]
        if hints:
            msg = "unknown config key(s) on the command line: " + "; ".join(hints)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
