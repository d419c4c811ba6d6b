"""Supervised fine-tuning of a LoRA adapter on the (prompt, golden program) pairs.

    python -m gamecwm_jax.sft --config configs/small_cpu.py [--config.sft.steps=50]

Loss on completion tokens only (the golden inside its ```python fence, plus the
EOS token); each micro-batch is padded to a length bucket (`sft.bucket`); the
order is the curriculum (tier 1 first) in every epoch, or a seeded shuffle.
Writes `<workdir>/sft/`: checkpoints (resumed automatically), metrics.jsonl,
TensorBoard events and, when done, `adapter/` (the LoRA weights that
`gamecwm_jax.rl` merges before GRPO) and a PEFT export.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from jax.sharding import Mesh

from gamecwm_jax import parallel
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.model import LoraConfig, init_lora, save_lora
from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train import export as export_lib
from gamecwm_jax.train import menu as menu_lib
from gamecwm_jax.train.checkpoint import init_or_restore, train_state
from gamecwm_jax.train.config import make_optimizer
from gamecwm_jax.train.metrics import MetricsLogger, NullLogger
from gamecwm_jax.train.step import make_update, sft_grad, tree_add

DONE = "DONE"


def lora_config(c: ml_collections.ConfigDict) -> LoraConfig:
    targets = (
        tuple(t.strip() for t in c.targets.split(",")) if isinstance(c.targets, str) else c.targets
    )
    return LoraConfig(rank=c.rank, alpha=float(c.alpha), dropout=float(c.dropout), targets=targets)


def sft_enabled(config: ml_collections.ConfigDict) -> bool:
    return config.sft.steps > 0 or config.sft.epochs > 0


def adapter_dir(config: ml_collections.ConfigDict) -> str:
    return os.path.join(config.workdir, "sft", "adapter")


def run_sft(
    config: ml_collections.ConfigDict,
    cfg: Any,
    params: Any,
    tokenizer: Any,
    games: list[str],
    model_dir: str = "",
    mesh: Mesh | None = None,
) -> str:
    """Trains (or resumes, or finds finished) the SFT adapter; returns its directory.

    With a device `mesh` (params already sharded over it, `setup.load_model`) the
    LoRA and optimizer state are replicated and each micro-batch's rows are split
    over data x fsdp; the jitted step is the same program, partitioned by XLA.
    """
    sc = config.sft
    stage = os.path.join(config.workdir, "sft")
    out_dir = adapter_dir(config)
    if os.path.isfile(os.path.join(out_dir, DONE)):
        logging.info("SFT already finished: %s", out_dir)
        return out_dir
    examples = menu_lib.sft_examples_for(config, tokenizer, games)
    if not examples:
        raise ValueError(f"no SFT example fits sft.max_len={sc.max_len} for games {games}")
    per_step = sc.batch_size * sc.grad_accum
    steps = sc.steps or max(1, math.ceil(sc.epochs * len(examples) / per_step))
    lcfg = lora_config(sc.lora)
    optimizer, schedule = make_optimizer(
        sc.lr, steps, sc.warmup_frac, sc.schedule, sc.weight_decay, sc.max_grad_norm
    )
    update = make_update(optimizer)
    k_init, k_run = jax.random.split(jax.random.PRNGKey(config.seed))
    ckpt, lora, opt_state, rng, start = init_or_restore(
        os.path.join(stage, "checkpoints"),
        config,
        init_lora(k_init, params, cfg, lcfg),
        optimizer,
        k_run,
        mesh=mesh,
    )
    # Curriculum = the tier order of `games` in every epoch; otherwise a seeded shuffle.
    order = data_lib.Schedule(
        range(len(examples)),
        [0] * len(examples),
        config.seed,
        curriculum=False,
        shuffle=not sc.curriculum,
    )
    logger = (
        MetricsLogger(
            stage,
            total_steps=steps,
            start_step=start,
            tensorboard=config.log.tensorboard,
            progress=config.log.progress,
            desc="sft",
            plot_every=0,
        )
        if parallel.is_main_process()
        else NullLogger()
    )
    pad = data_lib.pad_id(tokenizer)
    logging.info(
        "SFT: %d examples, %d steps of %d sequences, LoRA %s", len(examples), steps, per_step, lcfg
    )
    loss = float("nan")
    for step in range(start + 1, steps + 1):
        t0 = time.perf_counter()
        rng, k_step = jax.random.split(rng)
        idx = order.take((step - 1) * per_step, per_step)
        grad_sum, num, den, n_tokens = None, 0.0, 0.0, 0
        for a in range(sc.grad_accum):
            batch = [examples[i] for i in idx[a * sc.batch_size : (a + 1) * sc.batch_size]]
            p_len = data_lib.round_up(max(len(e.prompt) for e in batch), sc.bucket)
            c_len = data_lib.round_up(max(len(e.target) for e in batch), sc.bucket)
            tokens, mask = data_lib.pad_rows(
                [e.prompt for e in batch], [e.target for e in batch], p_len, c_len, pad
            )
            key = jax.random.fold_in(k_step, a) if lcfg.dropout > 0 else None
            rows = {"tokens": tokens, "mask": mask}
            rows = (
                parallel.shard_rows(rows, mesh, what="config.sft.batch_size")
                if mesh is not None
                else jax.tree.map(jnp.asarray, rows)
            )
            g, n, d = sft_grad(
                lora,
                params,
                rows["tokens"],
                rows["mask"],
                key,
                cfg=cfg,
                lora_cfg=lcfg,
                prompt_len=p_len,
                chunk=sc.logprob_chunk,
                remat=config.model.remat,
            )
            grad_sum = g if grad_sum is None else tree_add(grad_sum, g)
            num, den, n_tokens = num + n, den + d, n_tokens + int(mask.sum())
        lora, opt_state, gnorm = update(lora, opt_state, grad_sum, den)
        loss = float(num / den)
        dt = time.perf_counter() - t0
        logger.log(
            step,
            {
                "loss": loss,
                "grad_norm": float(gnorm),
                "lr": float(schedule(step - 1)),
                "target_tokens": float(den),
                "tokens_per_s": n_tokens / dt,
                "step_s": dt,
                "games": ",".join(sorted({examples[i].game for i in idx})),
            },
        )
        if ckpt.should_save(step, steps):
            ckpt.save(
                step,
                train_state(lora, opt_state, rng, step),
                {"step": step, "data_position": step * per_step, "loss": loss},
            )
    logger.close()
    ckpt.close()
    if parallel.is_main_process():  # LoRA is replicated: every host holds it whole
        save_lora(out_dir, lora, lcfg)
        export_lib.save_peft_adapter(os.path.join(stage, "peft"), lora, lcfg, model_dir)
        with open(os.path.join(out_dir, DONE), "w") as f:
            f.write(f"{steps}\n")
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("sft adapter written")
    logging.info("SFT done after %d steps: %s (last loss %.4f)", steps, out_dir, loss)
    return out_dir


def main(argv: list[str]) -> None:
    from gamecwm_jax.train import setup
    from gamecwm_jax.train.config import validate

    del argv

    def go():
        config = validate(_CONFIG.value)
        setup.check_writable(config.workdir)
        games = resolve_games(config.data.train_games)
        if not sft_enabled(config):
            raise setup.SetupError("SFT is disabled (sft.steps == 0 and sft.epochs == 0)")
        mesh = setup.make_mesh(config)
        with jax.set_mesh(mesh):
            cfg, params, tokenizer, model_dir = setup.load_model(config, mesh)
            run_sft(config, cfg, params, tokenizer, games, model_dir, mesh=mesh)

    setup.run_main(go)


if __name__ == "__main__":
    from absl import app
    from ml_collections import config_flags

    from gamecwm_jax.train.config import parse_flags_with_hints

    _CONFIG = config_flags.DEFINE_config_file(
        "config", None, "config file (configs/NAME.py)", lock_config=True
    )
    app.run(main, flags_parser=parse_flags_with_hints)
