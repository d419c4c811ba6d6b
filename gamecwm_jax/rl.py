"""GRPO on LoRA weights, with the verifier as the reward: the project's trainer.

    python -m gamecwm_jax.rl --config configs/small_cpu.py [--config.rl.group_size=4]

Runs SFT first when the config enables it (`sft.steps` or `sft.epochs` > 0;
skipped if this workdir's SFT already finished), merges that adapter into the
base weights, then GRPO. Each step:

  1. take `prompts_per_step` games from the (curriculum) schedule;
  2. sample `group_size` completions per prompt with the jitted sampler (with
     `inner_steps > 1` its per-token log-probs at the sampling temperature are the
     "old" log-probs, or a fresh forward pass's with `old_logprobs="recompute"`;
     with one update per batch the old log-probs are the stopped-gradient current
     ones, as in TRL, so the ratio is exactly 1 whatever the dtype);
  3. score them with the verifier's sandboxed worker pool;
  4. group-relative advantages (negative ones scaled by `rl.neg_weight`, 1 = GRPO;
     `rl.control` = shuffle / zero removes the verifier's information for a control run);
     groups whose rewards are all equal carry no policy-gradient signal (counted):
     with `beta == 0` they are dropped from the update, with `beta > 0` they stay
     with advantage 0 so the KL term still holds the policy near the reference on
     those prompts (as TRL does; README "GRPO details");
  5. `inner_steps` AdamW updates of the LoRA weights with the clipped objective
     (+ beta * k3 KL to the same model with LoRA off), gradients accumulated over
     micro-batches with exact weights, log-probs computed chunk by chunk.

Everything the next step depends on (LoRA, optimizer state, PRNG key, step,
data position) is checkpointed; rerunning the same command resumes from the
last complete checkpoint and continues exactly as the uninterrupted run would.
With `data.menu` set, every step (and step 0, before any update) also logs the exact
probability of every menu program (train/menu.py), a noise-free view of the policy.
Writes `<workdir>/rl/`: checkpoints, metrics.jsonl, tb/, rewards.png, adapter/, menu.json,
and `<workdir>/export/` (PEFT adapter + merged safetensors).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gamecwm_jax import sft as sft_lib
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.model import init_lora, load_lora, merge_lora, save_lora
from gamecwm_jax.sampler import Sampler, bucket_length
from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train import export as export_lib
from gamecwm_jax.train import losses
from gamecwm_jax.train import menu as menu_lib
from gamecwm_jax.train.checkpoint import init_or_restore, train_state
from gamecwm_jax.train.config import make_optimizer
from gamecwm_jax.train.control import control_rewards
from gamecwm_jax.train.metrics import MetricsLogger
from gamecwm_jax.train.step import (
    grpo_grad,
    make_update,
    score_logprobs,
    tree_add,
    update_count,
)

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


def train_rows(
    zero_spread: np.ndarray, adv: np.ndarray, group_size: int, beta: float, neg_weight: float
) -> np.ndarray:
    """Which sampled rows enter the update (bool [P * G]).

    A group whose rewards are all equal has advantage 0: with beta == 0 its rows add
    nothing and are dropped; with beta > 0 they keep their KL term (TRL keeps them too),
    otherwise the KL penalty would act only on the prompts where the rewards differ.
    With neg_weight == 0 and no KL, only rows with a positive advantage add anything.
    """
    if beta > 0.0:
        return np.ones(len(adv), bool)
    rows = np.repeat(~zero_spread, group_size)
    if neg_weight == 0.0:
        rows &= adv > 0  # no advantage, no KL term: the row adds nothing
    return rows


def build_update_batch(
    out: Any, keep_rows: np.ndarray, adv_n: np.ndarray, micro: int, max_new: int
) -> dict[str, np.ndarray]:
    """`[prompt | completion]` rows of the kept groups, padded to whole micro-batches.

    Padding rows repeat row 0 with weight 0 (finite values, no contribution). The
    completion width is the power-of-two bucket of the longest kept completion,
    capped at max_new, so short batches train on short arrays.
    """
    g = out.num_samples
    lengths = out.lengths[keep_rows]
    c_len = min(bucket_length(int(lengths.max())), max_new)
    n = len(keep_rows)
    n_pad = -(-n // micro) * micro
    rows = np.concatenate([keep_rows, np.full(n_pad - n, keep_rows[0])])
    prompt_rows = rows // g
    comp = out.tokens[rows, :c_len]
    comp_mask = (np.arange(c_len)[None] < out.lengths[rows][:, None]).astype(np.int32)
    return {
        "tokens": np.concatenate([out.prompt_tokens[prompt_rows], comp], 1).astype(np.int32),
        "mask": np.concatenate([out.prompt_mask[prompt_rows], comp_mask], 1).astype(np.int32),
        "old_logp": (out.logprobs[rows, :c_len] * comp_mask).astype(np.float32),
        "adv": adv_n[rows].astype(np.float32),
        "weight": (np.arange(n_pad) < n).astype(np.float32),
    }


def verify_own_rows(
    verifier: Any, items: list[tuple[str, str]], seed: int
) -> tuple[list[Any], np.ndarray]:
    """Scores this host's block of the step's rows in its own verifier pool and gathers
    every host's rewards (prompt-major, all rows) for the group advantages.

    Returns (this host's reports, rewards [len(items)] float64). With one process it is
    `verifier.verify_batch(items, seed)` and its scores. Each row's verifier seed is the
    step's, as in the single-host loop, so the rewards do not depend on the host count.
    """
    from gamecwm_jax import parallel

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


def run_grpo(
    config: ml_collections.ConfigDict,
    cfg: Any,
    params: Params,
    tokenizer: Any,
    games: list[str],
    model_dir: str = "",
    sft_adapter: str | None = None,
) -> dict[str, Any]:
    """The GRPO loop (resumes automatically); returns the last step's metrics."""
    rc = config.rl
    stage = os.path.join(config.workdir, "rl")
    lcfg = sft_lib.lora_config(rc.lora)
    total_updates = rc.steps * rc.inner_steps
    optimizer, schedule = make_optimizer(
        rc.lr, total_updates, rc.warmup_frac, rc.schedule, rc.weight_decay, rc.max_grad_norm
    )
    update = make_update(optimizer)
    k_init, k_run = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))
    ckpt, lora, opt_state, rng, start = init_or_restore(
        os.path.join(stage, "checkpoints"),
        config,
        init_lora(k_init, params, cfg, lcfg),
        optimizer,
        k_run,
    )

    from gamecwm_jax.games import get_game

    tiers = [get_game(g).tier or 0 for g in games]
    sched = data_lib.Schedule(games, tiers, config.seed, rc.curriculum, rc.epochs_per_tier)
    prompt_cache = {
        g: data_lib.prompt_ids(
            tokenizer, g, config.data.use_system_prompt, config.data.prompt_style
        )
        for g in games
    }
    too_long = {g: len(p) for g, p in prompt_cache.items() if len(p) > rc.max_prompt_len}
    if too_long:
        raise ValueError(f"prompts longer than rl.max_prompt_len={rc.max_prompt_len}: {too_long}")
    sampler = Sampler(cfg, tokenizer, max_seq_len=rc.max_prompt_len + rc.max_new_tokens)
    temperature = jnp.float32(rc.temperature)
    model_kw = dict(cfg=cfg, lora_cfg=lcfg, chunk=rc.logprob_chunk)
    logger = MetricsLogger(
        stage,
        total_steps=rc.steps,
        start_step=start,
        tensorboard=config.log.tensorboard,
        progress=config.log.progress,
        desc="grpo",
        plot_every=config.log.plot_every,
    )
    metrics: dict[str, Any] = {}
    g_size, micro = rc.group_size, rc.micro_batch_size
    with make_verifier(config) as verifier:
        probe = menu_lib.make_probe(config, verifier, cfg, params, tokenizer, games, lcfg)
        if probe is not None and start == 0:
            logger.log(0, probe(lora), progress=False)  # the policy GRPO starts from (LoRA B = 0)
        for step in range(start + 1, rc.steps + 1):
            t0 = time.perf_counter()
            rng, k_sample = jax.random.split(rng)
            batch_games = sched.take((step - 1) * rc.prompts_per_step, rc.prompts_per_step)
            out = sampler(
                params,
                [prompt_cache[g] for g in batch_games],
                key=k_sample,
                num_samples=g_size,
                max_new_tokens=rc.max_new_tokens,
                temperature=rc.temperature,
                lora=lora,
                lora_cfg=lcfg,
            )
            texts = sampler.decode(out)
            t1 = time.perf_counter()
            row_games = [g for g in batch_games for _ in range(g_size)]
            reports = verifier.verify_batch(
                list(zip(texts, row_games)), seed=config.seed * 1_000_003 + step
            )
            rewards = np.asarray([r.score for r in reports], np.float64)
            t2 = time.perf_counter()

            adv_rewards = control_rewards(rewards, g_size, rc.control, config.seed, step)
            adv, zero_spread = losses.group_advantages(
                adv_rewards, g_size, rc.loss, rc.adv_eps, rc.neg_weight
            )
            train_row = train_rows(zero_spread, adv, g_size, rc.beta, rc.neg_weight)
            lr_now = float(schedule(update_count(opt_state)))  # what this step's update uses
            keep_rows = np.flatnonzero(train_row)
            sums = {"clipped": 0.0, "kl": 0.0, "ratio": 0.0, "tokens": 0.0, "entropy": 0.0}
            gnorm, loss_val, n_trained = float("nan"), float("nan"), 0
            if len(keep_rows):
                b = build_update_batch(out, keep_rows, adv, micro, rc.max_new_tokens)
                p_len = out.prompt_tokens.shape[1]
                n_micro = len(b["adv"]) // micro
                mb = [
                    {k: jnp.asarray(v[i * micro : (i + 1) * micro]) for k, v in b.items()}
                    for i in range(n_micro)
                ]
                # One update per batch: old = stopped-gradient current log-probs (None).
                reuse = rc.inner_steps > 1
                for m in mb:  # reference (LoRA off) and, optionally, recomputed old log-probs
                    m["ref_logp"] = (
                        score_logprobs(
                            params,
                            None,
                            m["tokens"],
                            m["mask"],
                            temperature,
                            prompt_len=p_len,
                            **model_kw,
                        )
                        if rc.beta > 0
                        else None
                    )
                    if not reuse:
                        m["old_logp"] = None
                    elif rc.old_logprobs == "recompute":
                        m["old_logp"] = score_logprobs(
                            params,
                            lora,
                            m["tokens"],
                            m["mask"],
                            temperature,
                            prompt_len=p_len,
                            **model_kw,
                        )
                for inner in range(rc.inner_steps):
                    grad_sum, num, den = None, 0.0, 0.0
                    for m in mb:
                        g, n, d, aux = grpo_grad(
                            lora,
                            params,
                            m["tokens"],
                            m["mask"],
                            m["old_logp"],
                            m["ref_logp"],
                            m["adv"],
                            m["weight"],
                            temperature,
                            prompt_len=p_len,
                            remat=config.model.remat,
                            variant=rc.loss,
                            clip_eps_low=rc.clip_eps_low,
                            clip_eps_high=rc.clip_eps_high,
                            beta=rc.beta,
                            max_completion_len=rc.max_new_tokens,
                            **model_kw,
                        )
                        grad_sum = g if grad_sum is None else tree_add(grad_sum, g)
                        num, den = num + n, den + d
                        # KL / entropy of the policy that sampled the batch (first pass); clip and ratio
                        # of the last pass (with one inner step the ratio is 1 and nothing is clipped).
                        for k in sums:
                            first_only = k in ("kl", "entropy", "tokens")
                            if (inner == 0 and first_only) or (
                                inner == rc.inner_steps - 1 and not first_only
                            ):
                                sums[k] += float(aux[k])
                    lora, opt_state, gn = update(lora, opt_state, grad_sum, den)
                    if inner == 0:
                        gnorm, loss_val = float(gn), float(num / den)
                n_trained = int(sums["tokens"])
            t3 = time.perf_counter()

            gen_tokens = int(out.lengths.sum())
            tok = max(sums["tokens"], 1.0)
            metrics = {
                **reward_metrics(reports, rewards),
                "loss": loss_val,
                "frac_zero_spread": float(zero_spread.mean()),
                "groups_zero_spread": int(zero_spread.sum()),
                "kl": sums["kl"] / tok if rc.beta > 0 else None,
                "clip_frac": sums["clipped"] / tok,
                "ratio_mean": sums["ratio"] / tok if n_trained else None,
                "entropy": sums["entropy"] / tok if n_trained else None,
                "completion_len/mean": float(out.lengths.mean()),
                "completion_len/max": int(out.lengths.max()),
                "truncated_frac": float(out.truncated.mean()),
                "grad_norm": gnorm,
                "lr": lr_now,
                "trained_tokens": n_trained,
                "time/sample_s": t1 - t0,
                "time/verify_s": t2 - t1,
                "time/update_s": t3 - t2,
                "step_s": t3 - t0,
                "tokens_per_s": (gen_tokens + n_trained * rc.inner_steps) / (t3 - t0),
                "games": ",".join(batch_games),
            }
            if probe is not None:
                metrics.update(probe(lora))
            logger.log(step, metrics)
            if ckpt.should_save(step, rc.steps):
                ckpt.save(
                    step,
                    train_state(lora, opt_state, rng, step),
                    {
                        "step": step,
                        "data_position": step * rc.prompts_per_step,
                        "reward_mean": metrics["reward/mean"],
                    },
                )
    logger.close()
    ckpt.close()
    save_lora(os.path.join(stage, "adapter"), lora, lcfg)
    if config.export.at_end:
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
    return metrics


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
        )
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
