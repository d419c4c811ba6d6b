"""Training-step benchmark: where a GRPO step's time goes, and how much memory it takes.

CPU (default): GRPO steps of the small config (configs/small_cpu.py, SFT off, so the
random model writes max-length garbage: the worst case for sampling), reporting the
median sample / verify / update split after a warm-up step and the peak RSS. The real
verifier runs (and is timed), but its scores are replaced by pseudo-random ones so that
every group has spread and every step trains all rows (the worst case for the update):

  python -m gamecwm_jax.bench.train [--steps 3] [--config configs/small_cpu.py]

GPU: one GRPO update at Qwen2.5-3B shapes with random bf16 weights, G=8 completions of
a 4096-token prompt, 4096 new tokens each (EOS disabled, so every row is full length):

  python -m gamecwm_jax.bench.train --preset 3b [--micro_batch 2] [--skip_sampling]

It times sampling (prefill + 4096 decode steps for 8 rows), the reference pass (LoRA
off, for the KL) and the gradient + AdamW update (chunked log-probs, remat), and reads
the peak device memory from `memory_stats()`. `--preset tiny` runs the same code path
at toy shapes (how the GPU path is tested on CPU).

MFU of the update = model FLOPs / (time x peak FLOP/s), model FLOPs per trained token =
6 N + 12 L d_attn T (PaLM's formula: forward + backward over N parameters, plus the
attention score / value matmuls over a T-token context, causal half not discounted).
The base weights are frozen, so the true work is less (no weight gradients, about 4 N)
and rematerialisation adds a forward (2 N) that MFU does not count; the reference
pass is counted separately (2 N + 4 L d_attn T per token). Sampling is reported as
tokens/s (decode is memory-bound; see bench/sampler.py for its roofline).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# Dense bf16 peak FLOP/s by substring of `device_kind`.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "TPU v5 lite": 197e12,
    "TPU v4": 275e12,
    "TPU v5p": 459e12,
}


def peak_flops(override_tflops: float = 0.0) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    kind = jax.devices()[0].device_kind
    return next((v for k, v in PEAK_FLOPS.items() if k.lower() in kind.lower()), None)


def train_flops_per_token(cfg: Any, n_params: int, context: int) -> float:
    """6 N + 12 L d_attn T (see module docstring)."""
    return 6.0 * n_params + 12.0 * cfg.num_hidden_layers * cfg.q_dim * context


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def device_peak_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def bench_cpu(config_path: str, steps: int, workdir: str) -> dict[str, Any]:
    """GRPO steps of a config with SFT off; median split over the steps after the first."""
    from gamecwm_jax import rl
    from gamecwm_jax.train.config import validate
    from gamecwm_jax.train.metrics import read_jsonl

    class RandomScores:
        """The real verifier, timed as usual, with pseudo-random scores so every group trains."""

        def __init__(self, inner):
            self.inner, self.rng = inner, np.random.default_rng(0)

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def verify_batch(self, items, seed=0):
            reports = self.inner.verify_batch(items, seed=seed)
            for r in reports:
                r.score = float(self.rng.random())
            return reports

    real_make_verifier = rl.make_verifier
    rl.make_verifier = lambda config: RandomScores(real_make_verifier(config))
    config = _load_config(config_path)
    config.workdir = workdir
    config.sft.steps, config.sft.epochs = 0, 0.0
    config.rl.steps = steps
    config.checkpoint.every = 10_000
    config.export.at_end = False
    config.log.progress = False
    t0 = time.perf_counter()
    try:
        rl.run(validate(config))
    finally:
        rl.make_verifier = real_make_verifier
    wall = time.perf_counter() - t0
    rows = read_jsonl(f"{workdir}/rl/metrics.jsonl")
    steady = rows[1:] or rows
    med = {
        k: statistics.median(r[k] for r in steady)
        for k in (
            "time/sample_s",
            "time/verify_s",
            "time/update_s",
            "step_s",
            "tokens_per_s",
            "trained_tokens",
        )
    }
    return {
        "mode": "cpu",
        "config": config_path,
        "steps": steps,
        "wall_s": wall,
        "first_step_s (compile)": rows[0]["step_s"],
        **{f"median {k}": v for k, v in med.items()},
        "completion_len_mean": statistics.mean(r["completion_len/mean"] for r in rows),
        "rows_per_step": config.rl.prompts_per_step * config.rl.group_size,
        "peak_rss_mb": peak_rss_mb(),
        "device": jax.devices()[0].device_kind,
    }


def _load_config(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def bench_update(
    preset_name: str,
    group: int,
    prompt_len: int,
    new_tokens: int,
    micro: int,
    chunk: int,
    skip_sampling: bool,
    tflops: float,
    beta: float = 0.1,
) -> dict[str, Any]:
    """One GRPO step at model scale with random weights (see module docstring)."""
    from gamecwm_jax.bench.sampler import TINY
    from gamecwm_jax.model import LoraConfig, count_params, init_lora, init_params, preset
    from gamecwm_jax.sampler import sample
    from gamecwm_jax.train.config import make_optimizer
    from gamecwm_jax.train.step import grpo_grad, make_update, score_logprobs, tree_add

    cfg = TINY if preset_name == "tiny" else preset(preset_name)
    dtype = jnp.float32 if preset_name == "tiny" else jnp.bfloat16
    params = init_params(jax.random.PRNGKey(0), cfg, dtype)
    lcfg = LoraConfig(rank=16, alpha=64.0, targets=("all",))
    lora = init_lora(jax.random.PRNGKey(1), params, cfg, lcfg)
    n_params = count_params(params)
    prompt = np.random.default_rng(0).integers(0, cfg.vocab_size, prompt_len).tolist()
    out: dict[str, Any] = {
        "mode": "update",
        "preset": preset_name,
        "params": n_params,
        "lora_params": count_params(lora),
        "group": group,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "micro_batch": micro,
        "logprob_chunk": chunk,
        "device": jax.devices()[0].device_kind,
    }
    temp = jnp.float32(0.6)
    if not skip_sampling:
        for label in ("compile", "timed"):
            t0 = time.perf_counter()
            s = sample(
                params,
                cfg,
                [prompt],
                key=jax.random.PRNGKey(2),
                num_samples=group,
                max_new_tokens=new_tokens,
                temperature=0.6,
                lora=lora,
                lora_cfg=lcfg,
                eos_ids=(-1,),
                max_seq_len=prompt_len + new_tokens,
            )
            dt = time.perf_counter() - t0
        out.update({"sample_s": dt, "sample_tokens_per_s": group * new_tokens / dt})
        tokens = np.concatenate([s.prompt_tokens.repeat(group, 0), s.tokens], 1)
        mask = np.concatenate([s.prompt_mask.repeat(group, 0), np.ones_like(s.tokens)], 1)
        old = s.logprobs
        p_len = s.prompt_tokens.shape[1]
    else:
        rng = np.random.default_rng(1)
        tokens = rng.integers(0, cfg.vocab_size, (group, prompt_len + new_tokens)).astype(np.int32)
        mask = np.ones_like(tokens)
        old = np.full((group, new_tokens), -2.0, np.float32)
        p_len = prompt_len
    opt, _ = make_optimizer(2e-5, 100, 0.0, "constant", 0.0, 0.1)
    update = make_update(opt)
    opt_state = opt.init(lora)
    adv = jnp.asarray(np.linspace(-1, 1, group), jnp.float32)
    kw = dict(cfg=cfg, lora_cfg=lcfg, chunk=chunk, prompt_len=p_len)

    def one_update(lora, opt_state):
        t0 = time.perf_counter()
        mbs = []
        for i in range(0, group, micro):
            sl = slice(i, i + micro)
            m = {
                "tokens": jnp.asarray(tokens[sl]),
                "mask": jnp.asarray(mask[sl]),
                "old": jnp.asarray(old[sl]),
                "adv": adv[sl],
            }
            m["ref"] = (
                score_logprobs(params, None, m["tokens"], m["mask"], temp, **kw) if beta else None
            )
            mbs.append(m)
        jax.block_until_ready([m["ref"] for m in mbs])
        t_ref = time.perf_counter() - t0
        grad_sum, den = None, 0.0
        for m in mbs:
            g, _, d, _ = grpo_grad(
                lora,
                params,
                m["tokens"],
                m["mask"],
                m["old"],
                m["ref"],
                m["adv"],
                jnp.ones(len(m["adv"])),
                temp,
                remat=True,
                variant="grpo",
                clip_eps_low=0.2,
                clip_eps_high=0.2,
                beta=beta,
                max_completion_len=new_tokens,
                **kw,
            )
            grad_sum = g if grad_sum is None else tree_add(grad_sum, g)
            den = den + d
        lora, opt_state, _ = update(lora, opt_state, grad_sum, den)
        jax.block_until_ready(lora)
        return lora, opt_state, t_ref, time.perf_counter() - t0

    lora, opt_state, _, compile_s = one_update(lora, opt_state)
    lora, opt_state, ref_s, update_s = one_update(lora, opt_state)
    trained = group * new_tokens
    context = p_len + new_tokens
    model_flops = train_flops_per_token(cfg, n_params, context) * trained
    ref_flops = (2.0 * n_params + 4.0 * cfg.num_hidden_layers * cfg.q_dim * context) * trained
    peak = peak_flops(tflops)
    out.update(
        {
            "update_first_s (compile)": compile_s,
            "update_s (ref + grad + adamw)": update_s,
            "ref_pass_s": ref_s,
            "trained_tokens": trained,
            "train_model_tflop": model_flops / 1e12,
            "ref_tflop": ref_flops / 1e12,
            "mfu_update": (model_flops + ref_flops) / (update_s * peak) if peak else None,
            "peak_device_bytes": device_peak_bytes(),
            "peak_rss_mb": peak_rss_mb(),
        }
    )
    if out["peak_device_bytes"]:
        out["peak_device_gib"] = out["peak_device_bytes"] / 2**30
    if "sample_s" in out:
        out["step_s (sample + update, no verify)"] = out["sample_s"] + update_s
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="", help="'' (CPU small config), 'tiny', '0.5b', '3b', ...")
    ap.add_argument("--config", default="configs/small_cpu.py")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt_len", type=int, default=4096)
    ap.add_argument("--new_tokens", type=int, default=4096)
    ap.add_argument("--micro_batch", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--skip_sampling", action="store_true")
    ap.add_argument("--peak_tflops", type=float, default=0.0)
    ap.add_argument("--json", default="", help="also write the result here")
    a = ap.parse_args(argv)
    if a.preset:
        res = bench_update(
            a.preset,
            a.group,
            a.prompt_len,
            a.new_tokens,
            a.micro_batch,
            a.chunk,
            a.skip_sampling,
            a.peak_tflops,
        )
    else:
        import tempfile

        res = bench_cpu(a.config, a.steps, a.workdir or tempfile.mkdtemp(prefix="bench_train_"))
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
