"""GRPO on LoRA weights, with the verifier as the reward: the project's trainer.

    python -m gamecwm_jax.rl --config configs/small_cpu.py [--config.rl.group_size=4]

Runs SFT first when the config enables it (`sft.steps` or `sft.epochs` > 0;
skipped if this workdir's SFT already finished), merges that adapter into the
base weights, then GRPO. Each step reads top to bottom in `run_grpo`:

  rollout = sample(...)          `group_size` completions of `prompts_per_step` games
                                 (the curriculum's) from the jitted sampler, the LoRA
                                 folded into the weights it reads;
  reports = verify_batch(...)    the verifier's sandboxed worker pool scores them;
  advantages(...)                group-relative advantages (negative ones scaled by
                                 `rl.neg_weight`; `rl.control` = shuffle / zero removes the
                                 verifier's information for a control run); a group whose
                                 rewards are all equal carries no policy-gradient signal
                                 (counted): with `beta == 0` it is dropped, with `beta > 0`
                                 it stays with advantage 0 so its KL term still holds the
                                 policy near the reference (as TRL does; README "GRPO details");
  state, m = update(...)         one jitted program (train/grpo.py): reference log-probs
                                 (LoRA off), then `inner_steps` AdamW updates of the LoRA
                                 with the clipped objective + beta * k3 KL, gradients
                                 accumulated by a scan over micro-batches; each prompt runs
                                 once per micro-batch, not once per sample.

With one update per batch the old log-probs are the stopped-gradient current ones (the
ratio is exactly 1, as in TRL); with `inner_steps > 1` they are the sampler's, or a fresh
pass of the sampling policy with `old_logprobs="recompute"`.

Everything the next step depends on (LoRA, optimizer state, PRNG key, step,
data position) is checkpointed; rerunning the same command resumes from the
last complete checkpoint and continues exactly as the uninterrupted run would.
With `data.menu` set, every step (and step 0, before any update) also logs the exact
probability of every menu program (train/menu.py), a noise-free view of the policy.
Writes `<workdir>/rl/`: checkpoints, metrics.jsonl, tb/, rewards.png, adapter/, menu.json,
and `<workdir>/export/` (PEFT adapter + merged safetensors).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gamecwm_jax import parallel
from gamecwm_jax import sft as sft_lib
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.model import init_lora, load_lora, merge_lora, save_lora
from gamecwm_jax.sampler import Sampler, bucket_length
from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train import grpo
from gamecwm_jax.train import export as export_lib
from gamecwm_jax.train import losses
from gamecwm_jax.train import menu as menu_lib
from gamecwm_jax.train.checkpoint import init_or_restore, train_state
from gamecwm_jax.train.config import make_optimizer
from gamecwm_jax.train.control import control_rewards
from gamecwm_jax.train.metrics import MetricsLogger, NullLogger
from gamecwm_jax.train.step import update_count

Params = dict[str, Any]


def make_verifier(config: ml_collections.ConfigDict):
    from gamecwm_jax.verify import RewardConfig, Verifier

    reward_cfg = RewardConfig.fast() if config.verify.fast else RewardConfig()
    return Verifier(num_workers=config.verify.num_workers or None, config=reward_cfg)


def base_for_rl(
    config: ml_collections.ConfigDict, params: Params, sft_adapter: str | None
) -> Params:
    """The frozen base of GRPO: the pretrained weights with the SFT adapter folded in.

    The merged weights are also the KL reference (LoRA off), as in the seed recipe.
    """
    path = config.rl.sft_adapter or sft_adapter
    if not config.rl.init_from_sft or not path:
        return params
    lora, lcfg = load_lora(path)
    logging.info("GRPO starts from SFT adapter %s (merged into the base)", path)
    return merge_lora(params, lora, lcfg)


def verify_own_rows(
    verifier: Any, items: list[tuple[str, str]], seed: int
) -> tuple[list[Any], np.ndarray]:
    """Scores this host's block of the step's rows in its own verifier pool and gathers
    every host's rewards (prompt-major, all rows) for the group advantages.

    Returns (this host's reports, rewards [len(items)] float64). With one process it is
    `verifier.verify_batch(items, seed)` and its scores. Each row's verifier seed is the
    step's, as in the single-host loop, so the rewards do not depend on the host count.
    On several hosts the per-tier reward metrics (from the reports) are process 0's rows.
    """
    mine = parallel.process_rows(len(items))
    reports = verifier.verify_batch(items[mine], seed=seed)
    local = np.asarray([r.score for r in reports], np.float64)
    return reports, parallel.allgather_rows(local)


def reward_metrics(reports: list[Any], rewards: np.ndarray) -> dict[str, float]:
    m = {"reward/mean": float(rewards.mean()), "reward/std": float(rewards.std())}
    tiers = sorted({t for r in reports for t in r.tiers})
    for t in tiers:
        vals = [r.tiers[t] for r in reports if r.tiers.get(t) is not None]
        if vals:
            m[f"reward/{t}"] = float(np.mean(vals))
    m["verify/failed_frac"] = float(np.mean([r.failure is not None for r in reports]))
    return m


EXPORT_NOTE = """# Exported model

- `merged/`: the full model (base + SFT adapter + GRPO adapter folded in), Hugging Face
  layout: `AutoModelForCausalLM.from_pretrained("merged")`, or `vllm serve merged`.
- `peft/`: the GRPO adapter in PEFT format. It was trained on top of the base *with the
  SFT adapter merged* (SFT adapter: {sft}), so apply it to that model, e.g. load
  {base}, `PeftModel.from_pretrained(model, "<workdir>/sft/peft").merge_and_unload()`,
  then `PeftModel.from_pretrained(model, "peft")`. Without SFT it applies to {base} directly.
"""


_merge_jit = jax.jit(merge_lora, static_argnums=2)


def sampling_weights(params: Params, lora: Params, lcfg: Any, merge: bool) -> tuple[Any, Any, Any]:
    """(params, lora, lora_cfg) the sampler reads: with `merge` the adapter folded into a
    copy of the adapted weights (one small jitted program), so each decode step runs plain
    matmuls instead of 2 x targets x layers extra rank-r ones: fewer kernels per token on
    every backend, for a transient copy of the adapted weights; else LoRA on the side."""
    return (_merge_jit(params, lora, lcfg), None, None) if merge else (params, lora, lcfg)


@dataclasses.dataclass
class Rollout:
    """One step's samples: the sampler's output, the decoded texts and each row's game."""

    out: Any
    texts: list[str]
    games: list[str]


def sample(
    sampler: Sampler,
    params: Params,
    lora: Params,
    lcfg: Any,
    prompts: dict[str, list[int]],
    games: list[str],
    key: jax.Array,
    rc: ml_collections.ConfigDict,
) -> Rollout:
    """`group_size` completions of each game's prompt from the current policy (the LoRA
    merged first with `rl.merge_lora_for_sampling`, see `sampling_weights`)."""
    params, lora, lcfg = sampling_weights(params, lora, lcfg, rc.merge_lora_for_sampling)
    out = sampler(
        params,
        [prompts[g] for g in games],
        key=key,
        num_samples=rc.group_size,
        max_new_tokens=rc.max_new_tokens,
        temperature=rc.temperature,
        lora=lora,
        lora_cfg=lcfg,
    )
    return Rollout(out, sampler.decode(out), [g for g in games for _ in range(rc.group_size)])


def advantages(
    rewards: np.ndarray, rc: ml_collections.ConfigDict, seed: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(advantage per row, the rows that train, zero-spread groups) from the rewards."""
    adv_rewards = control_rewards(rewards, rc.group_size, rc.control, seed, step)
    adv, zero_spread = losses.group_advantages(
        adv_rewards, rc.group_size, rc.loss, rc.adv_eps, rc.neg_weight
    )
    rows = grpo.train_rows(zero_spread, adv, rc.group_size, rc.beta, rc.neg_weight)
    return adv, np.flatnonzero(rows), zero_spread


def update_batch(rollout: Rollout, keep_rows: np.ndarray, adv: np.ndarray, rc) -> grpo.Batch:
    """The kept rows as micro-batches; the completion width is the power-of-two bucket of
    the longest kept completion (capped at max_new_tokens), so short batches train on
    short arrays."""
    c_len = min(bucket_length(int(rollout.out.lengths[keep_rows].max())), rc.max_new_tokens)
    return grpo.build_batch(rollout.out, keep_rows, adv, rc.micro_batch_size, c_len)


def grpo_spec(config: ml_collections.ConfigDict, cfg: Any, lcfg: Any) -> grpo.GrpoSpec:
    rc = config.rl
    return grpo.GrpoSpec(
        cfg=cfg,
        lora_cfg=lcfg,
        variant=rc.loss,
        clip_eps_low=rc.clip_eps_low,
        clip_eps_high=rc.clip_eps_high,
        beta=rc.beta,
        max_completion_len=rc.max_new_tokens,
        inner_steps=rc.inner_steps,
        old_logprobs="current" if rc.inner_steps == 1 else rc.old_logprobs,
        chunk=rc.logprob_chunk,
        remat=config.model.remat,
    )


def step_metrics(
    rollout: Rollout,
    reports: list[Any],
    rewards: np.ndarray,
    zero_spread: np.ndarray,
    upd: dict[str, float],
    lr: float,
    times: list[float],
    rc: ml_collections.ConfigDict,
) -> dict[str, Any]:
    """The row `metrics.jsonl` gets for a step (token sums turned into per-token means)."""
    out = rollout.out
    tokens = upd.get("tokens", 0.0)
    tok, trained = max(tokens, 1.0), int(tokens)
    t0, t1, t2, t3 = times
    return {
        **reward_metrics(reports, rewards),
        "loss": upd.get("loss", float("nan")),
        "frac_zero_spread": float(zero_spread.mean()),
        "groups_zero_spread": int(zero_spread.sum()),
        "kl": upd.get("kl", 0.0) / tok if rc.beta > 0 else None,
        "clip_frac": upd.get("clipped", 0.0) / tok,
        "ratio_mean": upd["ratio"] / tok if trained else None,
        "entropy": upd["entropy"] / tok if trained else None,
        "completion_len/mean": float(out.lengths.mean()),
        "completion_len/max": int(out.lengths.max()),
        "truncated_frac": float(out.truncated.mean()),
        "grad_norm": upd.get("grad_norm", float("nan")),
        "lr": lr,
        "trained_tokens": trained,
        "time/sample_s": t1 - t0,
        "time/verify_s": t2 - t1,
        "time/update_s": t3 - t2,
        "step_s": t3 - t0,
        "tokens_per_s": (int(out.lengths.sum()) + trained * rc.inner_steps) / (t3 - t0),
        "games": ",".join(rollout.games[:: rc.group_size]),
    }


def run_grpo(
    config: ml_collections.ConfigDict,
    cfg: Any,
    params: Params,
    tokenizer: Any,
    games: list[str],
    model_dir: str = "",
    sft_adapter: str | None = None,
    mesh: Any = None,
) -> dict[str, Any]:
    """The GRPO loop (resumes automatically); returns the last step's metrics.

    On a device `mesh` (default: the enclosing `jax.set_mesh`'s; params already sharded
    over it) the LoRA and Adam state are replicated, each step's micro-batches have their
    rows split over data x fsdp (`grpo.place_batch`), each host verifies its own rows
    (`verify_own_rows`) and process 0 alone writes logs, the adapter and the export.
    """
    mesh = mesh if mesh is not None else parallel.current_mesh()
    rc = config.rl
    stage = os.path.join(config.workdir, "rl")
    lcfg = sft_lib.lora_config(rc.lora)
    optimizer, schedule = make_optimizer(
        rc.lr,
        rc.steps * rc.inner_steps,
        rc.warmup_frac,
        rc.schedule,
        rc.weight_decay,
        rc.max_grad_norm,
    )
    update = grpo.make_update(optimizer, grpo_spec(config, cfg, lcfg))
    k_init, k_run = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))
    ckpt, lora, opt_state, rng, start = init_or_restore(
        os.path.join(stage, "checkpoints"),
        config,
        init_lora(k_init, params, cfg, lcfg),
        optimizer,
        k_run,
        mesh=mesh,
    )
    state = grpo.TrainState(lora, opt_state)
    sched, prompts = _schedule_and_prompts(config, tokenizer, games)
    sampler = Sampler(cfg, tokenizer, max_seq_len=rc.max_prompt_len + rc.max_new_tokens)
    logger = (
        MetricsLogger(
            stage,
            total_steps=rc.steps,
            start_step=start,
            tensorboard=config.log.tensorboard,
            progress=config.log.progress,
            desc="grpo",
            plot_every=config.log.plot_every,
        )
        if parallel.is_main_process()
        else NullLogger()
    )
    metrics: dict[str, Any] = {}
    with make_verifier(config) as verifier:
        probe = menu_lib.make_probe(config, verifier, cfg, params, tokenizer, games, lcfg)
        if probe is not None and start == 0:
            logger.log(0, probe(state.lora), progress=False)  # the policy GRPO starts from
        for step in range(start + 1, rc.steps + 1):
            t0 = time.perf_counter()
            rng, key = jax.random.split(rng)
            step_games = sched.take((step - 1) * rc.prompts_per_step, rc.prompts_per_step)
            rollout = sample(sampler, params, state.lora, lcfg, prompts, step_games, key, rc)
            t1 = time.perf_counter()
            reports, rewards = verify_own_rows(  # reports: this host's rows only
                verifier,
                list(zip(rollout.texts, rollout.games)),
                seed=config.seed * 1_000_003 + step,
            )
            t2 = time.perf_counter()
            adv, keep_rows, zero_spread = advantages(rewards, rc, config.seed, step)
            lr = float(schedule(update_count(state.opt_state)))  # what this step's update uses
            upd: dict[str, float] = {}
            if len(keep_rows):  # else every group is equal with beta == 0: nothing to learn
                batch = update_batch(rollout, keep_rows, adv, rc)
                if mesh is not None:
                    batch = grpo.place_batch(batch, mesh)
                state, upd_dev = update(state, params, batch, jnp.float32(rc.temperature))
                upd = {k: float(v) for k, v in jax.device_get(upd_dev).items()}
            t3 = time.perf_counter()
            metrics = step_metrics(
                rollout, reports, rewards, zero_spread, upd, lr, [t0, t1, t2, t3], rc
            )
            if probe is not None:
                metrics.update(probe(state.lora))
            logger.log(step, metrics)
            if ckpt.should_save(step, rc.steps):
                ckpt.save(
                    step,
                    train_state(state.lora, state.opt_state, rng, step),
                    {
                        "step": step,
                        "data_position": step * rc.prompts_per_step,
                        "reward_mean": metrics["reward/mean"],
                    },
                )
    logger.close()
    ckpt.close()
    _finish(config, cfg, params, state.lora, lcfg, tokenizer, stage, model_dir, sft_adapter)
    return metrics


def _schedule_and_prompts(
    config: ml_collections.ConfigDict, tokenizer: Any, games: list[str]
) -> tuple[data_lib.Schedule, dict[str, list[int]]]:
    """The (curriculum) order of games and every game's prompt ids, length-checked."""
    from gamecwm_jax.games import get_game

    rc = config.rl
    tiers = [get_game(g).tier or 0 for g in games]
    sched = data_lib.Schedule(games, tiers, config.seed, rc.curriculum, rc.epochs_per_tier)
    prompts = {
        g: data_lib.prompt_ids(
            tokenizer, g, config.data.use_system_prompt, config.data.prompt_style
        )
        for g in games
    }
    too_long = {g: len(p) for g, p in prompts.items() if len(p) > rc.max_prompt_len}
    if too_long:
        raise ValueError(f"prompts longer than rl.max_prompt_len={rc.max_prompt_len}: {too_long}")
    return sched, prompts


def _finish(
    config: ml_collections.ConfigDict,
    cfg: Any,
    params: Params,
    lora: Params,
    lcfg: Any,
    tokenizer: Any,
    stage: str,
    model_dir: str,
    sft_adapter: str | None,
) -> None:
    """The final adapter, and (with export.at_end) the PEFT adapter + merged model,
    written by process 0 (the LoRA is replicated; the sharded base weights are first
    gathered by every process, a collective, when there are several hosts)."""
    if config.export.at_end and jax.process_count() > 1:
        params = jax.tree.map(parallel.to_host, params)
    if not parallel.is_main_process():
        return
    save_lora(os.path.join(stage, "adapter"), lora, lcfg)
    if not config.export.at_end:
        return
    export_dir = os.path.join(config.workdir, "export")
    paths = export_lib.export_all(
        export_dir,
        cfg,
        params,
        lora,
        lcfg,
        tokenizer=tokenizer,
        base_model=model_dir,
        dtype=config.export.dtype,
    )
    with open(os.path.join(export_dir, "README.md"), "w") as f:
        f.write(EXPORT_NOTE.format(base=model_dir, sft=sft_adapter or "none"))
    logging.info("exported %s", paths)


def summarize(workdir: str) -> str:
    """A short honest summary of what the reward did over the run (for the terminal)."""
    from gamecwm_jax.train.metrics import read_jsonl

    rows = [
        r for r in read_jsonl(os.path.join(workdir, "rl", "metrics.jsonl")) if "reward/mean" in r
    ]
    if not rows:
        return "no GRPO steps were logged"
    k = max(1, len(rows) // 4)
    first = np.array([r["reward/mean"] for r in rows[:k]])
    last = np.array([r["reward/mean"] for r in rows[-k:]])
    diff = float(last.mean() - first.mean())
    # Two standard errors of the difference of the two means (step-to-step spread):
    # anything smaller is what the per-step sampling noise produces on its own.
    if k < 2:
        noise, trend = float("nan"), "too few steps to call a trend"
    else:
        noise = 2.0 * float(np.sqrt((first.var(ddof=1) + last.var(ddof=1)) / k))
        trend = "up" if diff > noise else "down" if diff < -noise else "flat, within noise"
    return (
        f"GRPO: {len(rows)} steps; mean reward of the first {k} step(s) {first.mean():.3f}, "
        f"of the last {k} step(s) {last.mean():.3f} ({trend}: difference {diff:+.3f}, "
        f"2 standard errors {noise:.3f}); "
        f"per-step curve in {os.path.join(workdir, 'rl', 'rewards.png')}"
    )


def run(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """SFT (if enabled) then GRPO, from a validated config."""
    from gamecwm_jax.train import setup

    setup.check_writable(config.workdir)
    games = resolve_games(config.data.train_games)
    mesh = setup.make_mesh(config)
    with jax.set_mesh(mesh):  # the model's layout hints (parallel.constrain) read it
        return _run_on_mesh(config, games, mesh)


def _run_on_mesh(config: ml_collections.ConfigDict, games: list[str], mesh: Any) -> dict[str, Any]:
    from gamecwm_jax.train import setup

    cfg, params, tokenizer, model_dir = setup.load_model(config, mesh)
    sft_adapter = None
    if sft_lib.sft_enabled(config):
        sft_adapter = sft_lib.run_sft(config, cfg, params, tokenizer, games, model_dir, mesh=mesh)
    metrics = {}
    if config.rl.steps > 0:
        params = base_for_rl(config, params, sft_adapter)
        metrics = run_grpo(
            config,
            cfg,
            params,
            tokenizer,
            games,
            model_dir,
            (config.rl.sft_adapter or sft_adapter) if config.rl.init_from_sft else None,
            mesh=mesh,
        )
        if jax.process_count() > 1:  # the other hosts wait for process 0's adapter
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("grpo adapter written")
        if parallel.is_main_process():
            print(summarize(config.workdir), flush=True)
        if config.eval.at_end:
            lora, lcfg = load_lora(os.path.join(config.workdir, "rl", "adapter"))
            run_eval(config, cfg, merge_lora(params, lora, lcfg), tokenizer)
    return metrics


def run_eval(config: ml_collections.ConfigDict, cfg: Any, params: Params, tokenizer: Any) -> str:
    """`eval.samples` programs per `eval.games` game from the final policy -> <workdir>/eval."""
    from gamecwm_jax import eval as eval_lib

    ec = config.eval
    games = resolve_games(ec.games)
    with make_verifier(config) as verifier:
        records = eval_lib.evaluate(
            params,
            cfg,
            tokenizer,
            games,
            samples=ec.samples,
            temperature=ec.temperature,
            max_new_tokens=ec.max_new_tokens,
            batch_size=ec.batch_size,
            seed=config.seed,
            verifier=verifier,
            prompt_style=config.data.prompt_style,
            use_system_prompt=config.data.use_system_prompt,
        )
    out_dir = os.path.join(config.workdir, "eval")
    paths = eval_lib.write_outputs(
        out_dir,
        records,
        {
            "title": f"{os.path.basename(os.path.normpath(config.workdir))}: {ec.games}, K={ec.samples}, "
            f"T={ec.temperature}",
            "games": games,
            "samples": ec.samples,
        },
    )
    print(open(paths["md"]).read(), flush=True)
    return out_dir


def main(argv: list[str]) -> None:
    from gamecwm_jax.train import setup
    from gamecwm_jax.train.config import validate

    del argv
    setup.run_main(lambda: run(validate(_CONFIG.value)))


if __name__ == "__main__":
    from absl import app
    from ml_collections import config_flags

    from gamecwm_jax.train.config import parse_flags_with_hints

    _CONFIG = config_flags.DEFINE_config_file(
        "config", None, "config file (configs/NAME.py)", lock_config=True
    )
    app.run(main, flags_parser=parse_flags_with_hints)
