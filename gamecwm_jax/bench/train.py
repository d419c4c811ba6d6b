"""Training-step benchmark: where a GRPO step's time goes, and how much memory it takes.

CPU (default): GRPO steps of the small config (configs/small_cpu.py, SFT off, so the
random model writes max-length garbage: the worst case for sampling), reporting the
median sample / verify / update split after a warm-up step and the peak RSS. The real
verifier runs (and is timed), but its scores are replaced by pseudo-random ones so that
every group has spread and every step trains all rows (the worst case for the update):

  python -m gamecwm_jax.bench.train [--steps 3] [--config configs/small_cpu.py]

Against TRL (issue 11's shapes; `pip install -e ".[bench]"`): our loop, then TRL's
`GRPOTrainer` on the same checkpoint in a fresh process, both medians and the ratio;
`--rounds N` alternates the pair N times and adds the per-round ratios; the prompts are
the issue's ~90 tokens (`--system_prompt`: the project's system prompt, 118-125). `--profile`
times the update's passes and the step's sampling (LoRA merged vs on the side):

  python -m gamecwm_jax.bench.train --against trl [--steps 6] [--rounds 4]
  python -m gamecwm_jax.bench.train --profile

GPU: one GRPO update at Qwen2.5-3B shapes with random bf16 weights, G=8 completions of
a 4096-token prompt, 4096 new tokens each (EOS disabled, so every row is full length):

  python -m gamecwm_jax.bench.train --preset 3b [--micro_batch 8] [--skip_sampling]

It times sampling (prefill + 4096 decode steps for 8 rows), the reference pass (LoRA
off, for the KL) and the gradient + AdamW update (chunked log-probs, remat), and reads
the peak device memory from `memory_stats()`. `--preset tiny` runs the same code path
at toy shapes (how the GPU path is tested on CPU).

Memory without a GPU: `--memory_only` compiles (never runs) the same update programs at
those shapes from `jax.ShapeDtypeStruct` inputs, so no weights are allocated, and reports
XLA's buffer assignment (`compiled.memory_analysis()`: argument, output and temp bytes)
for several micro-batch sizes, with and without query-blocked attention:

  python -m gamecwm_jax.bench.train --preset 3b --memory_only [--micro_batches 1,2,4,8]

On a CPU this is XLA:CPU's buffer assignment: an estimate of what the GPU program would
need, not a GPU measurement (XLA:GPU fuses and schedules differently, and the CUDA
context, cuBLAS/cuDNN workspaces and fragmentation come on top). One XLA:CPU pass that
adds an fp32 copy of the weights, which a GPU never holds, is turned off (see
`memory_estimate`).

Per device on a mesh: `--mesh data,fsdp,tensor` compiles the same programs partitioned
for that mesh (inputs carry the trainer's shardings, gamecwm_jax/parallel.py; on a
CPU-only machine the mesh's devices are forced host devices), `--prompts N` adds the
sampler's prefill and decode for N prompts x `--group`, and `--config RECIPE` takes the
model, mesh and shapes from a recipe (configs/qwen25_7b_gpu8.py, ...):

  python -m gamecwm_jax.bench.train --memory_only --config configs/qwen25_14b_v5e8.py --device_gib 16

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
import contextlib
import dataclasses
import json
import resource
import statistics
import sys
import time
import types
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
    """GRPO steps of a config file with SFT off (see `bench_config`)."""
    return {"config": config_path, **bench_config(_load_config(config_path), steps, workdir)}


def bench_config(config: Any, steps: int, workdir: str) -> dict[str, Any]:
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
    config.workdir = workdir
    config.sft.steps, config.sft.epochs = 0, 0.0
    config.rl.steps = steps
    config.checkpoint.every = 10_000
    config.export.at_end = False
    config.eval.at_end = False  # scores are faked here (see above); an eval table would mislead
    config.log.progress = False
    t0 = time.perf_counter()
    try:
        rl.run(validate(config))
    finally:
        rl.make_verifier = real_make_verifier
    wall = time.perf_counter() - t0
    # Step 0 (with data.menu) holds only the exact menu probabilities of the starting policy.
    rows = [r for r in read_jsonl(f"{workdir}/rl/metrics.jsonl") if r["step"] > 0]
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
        "steps": steps,
        "wall_s": wall,
        "first_step_s (compile)": rows[0]["step_s"],
        **{f"median {k}": v for k, v in med.items()},
        "completion_len_mean": statistics.mean(r["completion_len/mean"] for r in rows),
        "rows_per_step": config.rl.prompts_per_step * config.rl.group_size,
        "peak_rss_mb": peak_rss_mb(),
        "device": jax.devices()[0].device_kind,
    }


# The shapes of issue 11's side-by-side (a random Qwen2 of ~3M parameters, fp32).
TRL_MODEL = dict(
    vocab_size=400,
    hidden_size=256,
    intermediate_size=704,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    seed=0,
)
TRL_GAMES = ("tic_tac_toe", "connect4", "kuhn_poker", "pig")


def against_trl_config(shapes: Any, workdir: str) -> Any:
    """Our GRPO config at the shapes TRL runs (`bench.trl_grpo.TrlShapes`)."""
    import ml_collections

    from gamecwm_jax.train.config import default_config

    c = default_config()
    c.workdir = workdir
    c.model.path = "tiny-random"
    c.model.dtype = "float32"
    c.model.remat = False
    c.model.tiny = ml_collections.ConfigDict(TRL_MODEL)
    c.data.train_games = ",".join(TRL_GAMES)
    c.data.prompt_style = "name"
    c.data.use_system_prompt = shapes.system_prompt
    c.rl.prompts_per_step = shapes.prompts_per_step
    c.rl.group_size = shapes.group_size
    c.rl.micro_batch_size = shapes.micro_batch
    c.rl.max_new_tokens = shapes.new_tokens
    c.rl.max_prompt_len = 256
    c.rl.temperature = shapes.temperature
    c.rl.beta = shapes.beta
    c.rl.lr = shapes.lr
    c.rl.max_grad_norm = 1.0  # TRL's default
    c.rl.curriculum = False
    c.rl.logprob_chunk = 512
    c.rl.lora.rank = shapes.lora_rank
    c.rl.lora.alpha = shapes.lora_alpha
    c.rl.lora.targets = "all"
    c.verify.fast = True
    c.verify.num_workers = 2
    return c


def trl_prompts(tokenizer: Any, config: Any) -> tuple[list[str], list[list[int]]]:
    """The games and prompt ids TRL is given, built from our side's `config` (its
    `against_trl_config`) as our loop builds its own, so both get the same tokens."""
    from gamecwm_jax.train import data as data_lib

    dc = config.data
    games = list(TRL_GAMES[: config.rl.prompts_per_step])
    return games, [
        data_lib.prompt_ids(tokenizer, g, dc.use_system_prompt, dc.prompt_style) for g in games
    ]


def against_trl(steps: int, workdir: str, shapes: Any = None, rounds: int = 1) -> dict[str, Any]:
    """Our GRPO step and TRL's, back to back in one command, at the same shapes.

    Ours runs first (`bench_config`: the trainer's own loop, SFT off, the real verifier
    with pseudo-random scores); then TRL's `GRPOTrainer` on the very checkpoint ours
    loaded, in a fresh process (`bench.trl_grpo`, which says why). Both report the median
    over the steps after the first. With `rounds` > 1 the pair runs that many times,
    alternating, and the result adds each round's ratio and their median and range: a
    machine whose speed drifts between runs moves both sides of a round alike, so the
    per-round ratios are steadier than one long run of each side.
    """
    import shutil

    from gamecwm_jax.bench.trl_grpo import TrlShapes
    from gamecwm_jax.train import setup

    shapes = shapes or TrlShapes()
    config = against_trl_config(shapes, workdir)
    model_dir = setup.build_tiny_model(f"{workdir}/base_model", config.model.tiny)
    tokenizer = setup.load_tokenizer(model_dir)
    games, prompt_ids = trl_prompts(tokenizer, config)
    with open(f"{workdir}/trl_prompts.json", "w") as f:
        json.dump({"prompts": [tokenizer.decode(p) for p in prompt_ids], "games": games}, f)
    pairs = []
    for r in range(rounds):
        run_dir = f"{workdir}/round{r}"  # a fresh run each round, on the very checkpoint
        shutil.copytree(model_dir, f"{run_dir}/base_model")  # TRL loads (the trainer reuses it)
        ours = bench_config(against_trl_config(shapes, run_dir), steps, run_dir)
        print(f"ours: median step {ours['median step_s']:.2f} s; now TRL", file=sys.stderr)
        pairs.append((ours, _trl_steps(model_dir, workdir, steps, shapes, r)))
        print(f"round {r + 1}/{rounds}: ratio {_ratio(*pairs[-1]):.3f}", file=sys.stderr)
    ours, theirs = pairs[0]
    ours_s, theirs_s = ours["median step_s"], theirs["median_step_s"]
    out = {
        "mode": "against_trl",
        "shapes": dataclasses.asdict(shapes),
        "model": TRL_MODEL,
        "prompt_tokens": [len(p) for p in prompt_ids],
        "ours": ours,
        "trl": theirs,
        "ours_median_step_s": ours_s,
        "trl_median_step_s": theirs_s,
        "ratio_ours_over_trl": ours_s / theirs_s,
        # update = reference pass + forward + backward + optimizer, generation left out
        "ours_median_update_s": ours["median time/update_s"],
        "trl_median_update_s": theirs["median_update_s"],
        "update_ratio_ours_over_trl": ours["median time/update_s"] / theirs["median_update_s"],
        "device": jax.devices()[0].device_kind,
    }
    if rounds > 1:
        ratios = [_ratio(o, t) for o, t in pairs]
        out["rounds"] = [
            {
                "ours_step_s": o["median step_s"],
                "trl_step_s": t["median_step_s"],
                "ratio": _ratio(o, t),
                "ours_update_s": o["median time/update_s"],
                "trl_update_s": t["median_update_s"],
            }
            for o, t in pairs
        ]
        out["ratio_median"] = statistics.median(ratios)
        out["ratio_range"] = [min(ratios), max(ratios)]
    return out


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float:
    return ours["median step_s"] / theirs["median_step_s"]


def _trl_steps(model_dir: str, workdir: str, steps: int, shapes: Any, r: int) -> dict[str, Any]:
    """TRL's GRPO steps in a fresh process (`bench.trl_grpo`); its result dict."""
    import subprocess

    out = f"{workdir}/trl_{r}.json"
    subprocess.run(
        [
            sys.executable, "-m", "gamecwm_jax.bench.trl_grpo",
            "--model_dir", model_dir,
            "--prompts", f"{workdir}/trl_prompts.json",
            "--steps", str(steps),
            "--shapes", json.dumps(dataclasses.asdict(shapes)),
            "--out", out,
        ],
        check=True,
    )  # fmt: skip
    with open(out) as f:
        return json.load(f)


def profile_update(repeats: int = 5, micro_sizes: tuple[int, ...] = (8, 32)) -> dict[str, Any]:
    """Where the GRPO update's time goes, at `--against trl`'s shapes (random weights).

    Per micro-batch size, the medians over `repeats` rounds (every variant timed once a
    round, in turn, so load drifts hit all alike) of the passes the update is made of,
    summed over the step's micro-batches: the reference pass (LoRA off, no gradient), the
    policy forward alone, forward + backward of the clipped objective, and the whole
    jitted update (those plus AdamW and the scan), each for prompts shared by their group
    (`shared_prompt_logprobs`, the trainer's path) and for `[prompt | completion]` rows
    that repeat every prompt G times (`completion_logprobs`, the path before it); the
    whole update again with autodiff's backward of the LoRA product, of the attention,
    or of both, instead of the hand-written ones (`AUTODIFF_VARIANTS`); then
    the step's sampling with the LoRA merged vs on the side (`profile_sampling`).
    """
    from gamecwm_jax.bench.trl_grpo import TrlShapes
    from gamecwm_jax.model import LoraConfig, Qwen2Config, init_lora, init_params
    from gamecwm_jax.train import grpo, losses
    from gamecwm_jax.train.config import make_optimizer
    from gamecwm_jax.train.logprobs import completion_logprobs

    sh = TrlShapes()
    cfg = Qwen2Config(
        **{k: v for k, v in TRL_MODEL.items() if k != "seed"}, tie_word_embeddings=True
    )
    params = init_params(jax.random.PRNGKey(0), cfg, jnp.float32)
    lcfg = LoraConfig(rank=sh.lora_rank, alpha=sh.lora_alpha, targets=("all",))
    lora = jax.tree.map(lambda x: x + 0.01, init_lora(jax.random.PRNGKey(1), params, cfg, lcfg))
    p, g, tp, c = sh.prompts_per_step, sh.group_size, 128, sh.new_tokens
    rng = np.random.default_rng(0)
    rollout = synthetic_rollout(
        rng.integers(0, cfg.vocab_size, (p, tp)), rng.integers(0, cfg.vocab_size, (p * g, c)), g
    )
    adv = rng.normal(size=p * g).astype(np.float32)
    temp = jnp.float32(sh.temperature)
    opt, _ = make_optimizer(sh.lr, 100, 0.0, "constant", 0.0, 1.0)
    spec = grpo.GrpoSpec(cfg=cfg, lora_cfg=lcfg, beta=sh.beta, max_completion_len=c)

    def repeated_rows(mb: dict[str, Any]) -> tuple[jax.Array, jax.Array]:
        rows = mb["row_prompt"]
        tokens = jnp.concatenate([mb["prompt_tokens"][rows], mb["tokens"]], 1)
        mask = jnp.concatenate([mb["prompt_mask"][rows], mb["mask"]], 1)
        return tokens, mask

    def logp(lora_, mb, shared):
        if shared:
            return grpo.micro_logprobs(params, lora_, mb, temp, spec)[0]
        tokens, mask = repeated_rows(mb)
        lcfg_ = lcfg if lora_ is not None else None
        return completion_logprobs(
            params, cfg, tokens, mask, tp, lora=lora_, lora_cfg=lcfg_, temperature=temp
        )[0]

    def fwd_bwd(lora_, mb, ref, shared):
        def num(l):
            n, d, _ = losses.policy_loss_terms(
                logp(l, mb, shared), None, mb["adv"], mb["mask"], mb["weight"],
                variant="grpo", clip_eps_low=0.2, clip_eps_high=0.2, beta=sh.beta,
                logp_ref_bt=ref,
            )  # fmt: skip
            return n / d

        return jax.grad(num)(lora_)

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - t0

    out: dict[str, Any] = {"mode": "profile", "shapes": dataclasses.asdict(sh), "model": TRL_MODEL}
    for micro in micro_sizes:
        batch = jax.tree.map(
            jnp.asarray, grpo.build_batch(rollout, np.arange(p * g), adv, micro, c)
        )
        mbs = [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(len(batch["tokens"]))]
        fns: dict[str, Any] = {}
        for shared in (True, False):
            tag = "shared" if shared else "repeated"
            ref_j = jax.jit(lambda mb, s=shared: logp(None, mb, s))
            fwd_j = jax.jit(lambda l, mb, s=shared: logp(l, mb, s))
            grad_j = jax.jit(lambda l, mb, r, s=shared: fwd_bwd(l, mb, r, s))
            refs = [ref_j(mb) for mb in mbs]
            fns[f"{tag}/reference_pass_s"] = lambda f=ref_j: [f(mb) for mb in mbs]
            fns[f"{tag}/policy_forward_s"] = lambda f=fwd_j: [f(lora, mb) for mb in mbs]
            fns[f"{tag}/forward_backward_s"] = lambda f=grad_j, r=refs: [
                f(lora, mb, rr) for mb, rr in zip(mbs, r)
            ]
        for tag, autodiff in AUTODIFF_VARIANTS.items():
            with _autodiff_backward(*autodiff):  # traced here, so the choice is compiled in
                update = grpo.make_update(opt, spec)
                state = [grpo.TrainState(jax.tree.map(jnp.copy, lora), opt.init(lora))]
                state[0], _ = jax.block_until_ready(update(state[0], params, batch, temp))

            def whole(update=update, state=state) -> Any:
                state[0], m = update(state[0], params, batch, temp)  # state is donated
                return m

            fns[f"shared/whole_update{tag}_s"] = whole
        for fn in fns.values():  # compile
            timed(fn)
        runs: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeats):
            for k, fn in fns.items():
                runs[k].append(timed(fn))
        med = {k: statistics.median(v) for k, v in runs.items()}
        med["shared/optimizer_and_scan_s (whole - ref - fwd/bwd)"] = (
            med["shared/whole_update_s"]
            - med["shared/reference_pass_s"]
            - med["shared/forward_backward_s"]
        )
        med["repeated/sum_s (ref + fwd/bwd)"] = (
            med["repeated/reference_pass_s"] + med["repeated/forward_backward_s"]
        )
        out[f"micro_batch={micro}"] = med
        print(f"micro_batch={micro}: " + json.dumps(med, default=float), file=sys.stderr)
    out["sampling"] = profile_sampling(params, cfg, lora, lcfg, repeats)
    out["device"] = jax.devices()[0].device_kind
    return out


# `--profile`'s whole-update variants: (LoRA product, attention) differentiated by autodiff
# instead of by their hand-written backwards; the last is the update before session 10.
AUTODIFF_VARIANTS = {
    "": (False, False),
    "_autodiff_lora": (True, False),
    "_autodiff_attention": (False, True),
    "_autodiff_both": (True, True),
}


@contextlib.contextmanager
def _autodiff_backward(lora: bool, attention: bool):
    """Programs traced inside differentiate the adapter's low-rank product (`lora`) and
    the attention (`attention`) by JAX's own rules instead of the hand-written backwards
    of `lora.low_rank` and `qwen2.grouped_attention` (same forward values)."""
    from gamecwm_jax.model import lora as lora_lib
    from gamecwm_jax.model import qwen2

    saved = lora_lib.low_rank, qwen2.grouped_attention
    if lora:  # their own forwards, which autodiff then differentiates
        lora_lib.low_rank = lambda x, a, b, s: lora_lib._low_rank_fwd(x, a, b, s)[0]
    if attention:
        qwen2.grouped_attention = lambda q, k, v, m: qwen2._grouped_attention_fwd(q, k, v, m)[0]
    try:
        yield
    finally:
        lora_lib.low_rank, qwen2.grouped_attention = saved


def profile_sampling(params: Any, cfg: Any, lora: Any, lcfg: Any, repeats: int) -> dict[str, float]:
    """One step's sampling (4 prompts x 8 samples x 128 tokens, no EOS) with the LoRA
    folded into the weights first (the merge included: `rl.sampling_weights`, the
    trainer's own) and with LoRA applied on the side; medians of `repeats` interleaved
    rounds."""
    import functools

    from gamecwm_jax.bench.trl_grpo import TrlShapes
    from gamecwm_jax.rl import sampling_weights
    from gamecwm_jax.sampler import sample

    sh = TrlShapes()
    prompts = np.random.default_rng(1).integers(2, cfg.vocab_size, (sh.prompts_per_step, 120))
    run = functools.partial(
        sample, cfg=cfg, prompt_ids=prompts.tolist(), num_samples=sh.group_size,
        max_new_tokens=sh.new_tokens, temperature=sh.temperature, eos_ids=(-1,),
    )  # fmt: skip

    def timed_with(merge: bool) -> Any:
        def fn(key: jax.Array) -> Any:
            p, l, lc = sampling_weights(params, lora, lcfg, merge)
            return run(p, key=key, lora=l, lora_cfg=lc)

        return fn

    fns = {"merged_s": timed_with(True), "lora_on_the_side_s": timed_with(False)}
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(repeats + 1):  # the first round compiles
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(jax.random.key(i))  # returns host arrays: done when it returns
            if i:
                runs[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print("sampling: " + json.dumps(med), file=sys.stderr)
    return med


def _load_config(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def _bench_model(preset_name: str, attn_block: int | None) -> tuple[Any, Any, Any]:
    """(model cfg, parameter dtype, LoRA config) of the GPU modes: a preset (or the toy
    `tiny`) with the GRPO recipe's adapter (r=16, alpha=64, every projection)."""
    from gamecwm_jax.bench.sampler import TINY
    from gamecwm_jax.model import LoraConfig, preset

    cfg = TINY if preset_name == "tiny" else preset(preset_name)
    if attn_block is not None:
        cfg = dataclasses.replace(cfg, attn_block=attn_block)
    dtype = jnp.float32 if preset_name == "tiny" else jnp.bfloat16
    return cfg, dtype, LoraConfig(rank=16, alpha=64.0, targets=("all",))


def _grpo_spec(cfg: Any, lcfg: Any, beta: float, new_tokens: int, chunk: int) -> Any:
    """The update's static options as the 3B recipe sets them (remat on, one update)."""
    from gamecwm_jax.train.grpo import GrpoSpec

    return GrpoSpec(
        cfg=cfg, lora_cfg=lcfg, beta=beta, max_completion_len=new_tokens, chunk=chunk, remat=True
    )


def synthetic_rollout(
    prompt_pt: np.ndarray, tokens_rc: np.ndarray, group: int, prompt_mask_pt: Any = None
) -> Any:
    """A stand-in for the sampler's output: P prompts (no padding unless a mask is given),
    `group` full-length completions of each, zero log-probs; what `grpo.build_batch` reads."""
    r, c = tokens_rc.shape
    return types.SimpleNamespace(
        num_samples=group,
        prompt_tokens=prompt_pt.astype(np.int32),
        prompt_mask=(np.ones_like(prompt_pt) if prompt_mask_pt is None else prompt_mask_pt).astype(
            np.int32
        ),
        tokens=tokens_rc.astype(np.int32),
        lengths=np.full(r, c),
        logprobs=np.zeros((r, c), np.float32),
    )


def group_batch(
    prompt_bt: np.ndarray, tokens_rc: np.ndarray, micro: int, prompt_mask_bt: Any = None
) -> dict[str, Any]:
    """One prompt's R completions as the update's micro-batches [R / micro, ...] (the
    trainer's `grpo.build_batch`), advantages spread over [-1, 1]."""
    from gamecwm_jax.train import grpo

    r, c = tokens_rc.shape
    rollout = synthetic_rollout(prompt_bt, tokens_rc, r, prompt_mask_bt)
    adv = np.linspace(-1, 1, r, dtype=np.float32)
    return grpo.build_batch(rollout, np.arange(r), adv, micro, c)


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
    attn_block: int | None = None,
) -> dict[str, Any]:
    """One GRPO step at model scale with random weights (see module docstring).
    `attn_block` overrides the model config's query block (0: one block)."""
    from gamecwm_jax.model import count_params, init_lora, init_params
    from gamecwm_jax.sampler import sample
    from gamecwm_jax.train import grpo
    from gamecwm_jax.train.config import make_optimizer

    cfg, dtype, lcfg = _bench_model(preset_name, attn_block)
    params = init_params(jax.random.PRNGKey(0), cfg, dtype)
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
        "attn_block": cfg.attn_block,
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
        prompt_bt, prompt_mask_bt, comp_rc = s.prompt_tokens, s.prompt_mask, s.tokens
    else:
        rng = np.random.default_rng(1)
        prompt_bt = rng.integers(0, cfg.vocab_size, (1, prompt_len)).astype(np.int32)
        prompt_mask_bt = None
        comp_rc = rng.integers(0, cfg.vocab_size, (group, new_tokens)).astype(np.int32)
    p_len = prompt_bt.shape[1]
    batch = jax.tree.map(jnp.asarray, group_batch(prompt_bt, comp_rc, micro, prompt_mask_bt))
    opt, _ = make_optimizer(2e-5, 100, 0.0, "constant", 0.0, 0.1)
    spec = _grpo_spec(cfg, lcfg, beta, new_tokens, chunk)
    update = grpo.make_update(opt, spec)
    state = grpo.TrainState(lora, opt.init(lora))

    @jax.jit
    def ref_pass(batch):  # the update's reference pass on one micro-batch, timed apart
        mb = jax.tree.map(lambda x: x[0], batch)
        return grpo.micro_logprobs(params, None, mb, temp, spec)[0]

    def one_update(state):
        t0 = time.perf_counter()
        jax.block_until_ready(ref_pass(batch))
        t_ref = (time.perf_counter() - t0) * len(batch["tokens"])
        t0 = time.perf_counter()
        state, metrics = update(state, params, batch, temp)
        jax.block_until_ready(metrics)
        return state, t_ref, time.perf_counter() - t0

    state, _, compile_s = one_update(state)
    state, ref_s, update_s = one_update(state)
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


def memory_estimate(
    preset_name: str,
    group: int,
    prompt_len: int,
    new_tokens: int,
    micro_batches: list[int],
    chunk: int,
    attn_blocks: list[int],
    beta: float = 0.1,
    mesh_shape: tuple[int, int, int] | None = None,
    prompts: int = 0,
) -> dict[str, Any]:
    """Compile-only memory of the GRPO update at model scale; no weights are allocated.

    For each query block (0: unblocked attention) and micro-batch size, lowers and
    compiles the trainer's whole update (`train.grpo.make_update`: the reference pass,
    forward + backward with remat and chunked log-probs over a scan of micro-batches, and
    AdamW) for one group of `group` completions of one prompt, from `jax.ShapeDtypeStruct`
    inputs, and reads XLA's buffer assignment (argument + output + temp - aliased bytes):
    weights, LoRA, AdamW state, the batch and every temporary of the step are in it.

    On a CPU backend this is XLA:CPU's buffer assignment, an estimate of what the GPU
    would need, not a GPU measurement (see the module docstring), compiled without the
    pass that adds an fp32 weight copy a GPU never holds (`bench.program_bytes`).

    With `mesh_shape` (data, fsdp, tensor) the inputs carry the trainer's shardings
    (gamecwm_jax.parallel: weights split, LoRA / Adam state replicated, micro-batch rows
    split as `grpo.place_batch` splits them) and XLA partitions the update for that mesh:
    every figure is per device. On a CPU this needs as many (forced) host devices as the
    mesh has (`force_host_devices`). `prompts` > 0 makes the step `prompts` groups (the
    recipe's rows) and also compiles the sampler's prefill and decode programs for
    `prompts` x `group` completions (GRPO's sampling call) on the same mesh.
    """
    import contextlib

    from jax.sharding import NamedSharding

    from gamecwm_jax import parallel
    from gamecwm_jax.bench import disabled_passes, program_bytes
    from gamecwm_jax.model import init_lora, init_params
    from gamecwm_jax.train import grpo
    from gamecwm_jax.train.config import make_optimizer

    def nbytes(tree: Any) -> int:
        """Bytes a device holds of `tree` (its shard of each sharded leaf)."""
        total = 0
        for x in jax.tree.leaves(tree):
            sh = getattr(x, "sharding", None)
            shape = sh.shard_shape(x.shape) if sh is not None else x.shape
            total += int(np.prod(shape)) * jnp.dtype(x.dtype).itemsize
        return total

    cfg, dtype, lcfg = _bench_model(preset_name, None)
    params = jax.eval_shape(lambda: init_params(jax.random.PRNGKey(0), cfg, dtype))
    lora = jax.eval_shape(lambda p: init_lora(jax.random.PRNGKey(1), p, cfg, lcfg), params)
    opt, _ = make_optimizer(2e-5, 100, 0.0, "constant", 0.0, 0.1)
    state = grpo.TrainState(lora, jax.eval_shape(opt.init, lora))
    mesh = None
    if mesh_shape is not None:
        mesh = parallel.make_mesh(*mesh_shape, devices=jax.devices()[: int(np.prod(mesh_shape))])
        params = parallel.abstract(params, parallel.param_shardings(params, cfg, mesh))
        rep = parallel.replicated(mesh)
        state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), state)
    step_rows = group * max(1, prompts)

    def abstract_batch(micro: int) -> Any:
        """The step's rows as the update's micro-batches, as shapes (and shardings)."""
        host = group_batch(
            np.zeros((1, prompt_len), np.int32), np.zeros((step_rows, new_tokens), np.int32), micro
        )
        if mesh is None:
            return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), host)
        parallel.check_rows(micro, mesh, "micro batch")  # as grpo.place_batch: axis 1 split

        def sds(x: np.ndarray) -> jax.ShapeDtypeStruct:
            logical = [None] * x.ndim
            logical[1] = "batch"
            sh = NamedSharding(mesh, parallel.spec(x.shape, logical, mesh.shape))
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sh)

        return jax.tree.map(sds, host)

    temp = jax.ShapeDtypeStruct((), jnp.float32)
    rows = []
    ctx = jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext()
    for block in attn_blocks:
        cfg_b = dataclasses.replace(cfg, attn_block=block)
        update = grpo.make_update(opt, _grpo_spec(cfg_b, lcfg, beta, new_tokens, chunk))
        for micro in micro_batches:
            batch = abstract_batch(micro)
            t0 = time.perf_counter()
            with ctx:
                step_b = program_bytes(update.lower(state, params, batch, temp))
            rows.append(
                {
                    "attn_block": block,
                    "micro_batch": micro,
                    "step": step_b,
                    "step_estimate": step_b["total"],
                    "compile_s": time.perf_counter() - t0,
                }
            )
            print(_memory_row(rows[-1]), file=sys.stderr, flush=True)
    sampling = None
    if prompts:
        from gamecwm_jax.bench import sampler as bench_sampler

        t0 = time.perf_counter()
        sampling = bench_sampler.memory_estimate(
            cfg, dtype, prompts, prompt_len, new_tokens, num_samples=group, mesh=mesh
        )
        sampling["compile_s"] = time.perf_counter() - t0
        print(
            f"sampling {prompts} prompts x {group}: prefill {sampling['prefill']['total']:.2f} "
            f"GiB, decode {sampling['decode']['total']:.2f} GiB a device",
            file=sys.stderr,
            flush=True,
        )
    return {
        "mode": "memory_only",
        "preset": preset_name,
        "mesh": dict(mesh.shape) if mesh is not None else None,
        "per_device": mesh is not None,
        "prompts": prompts,
        "step_rows": step_rows,
        "sampling_gib": sampling,
        "group": group,
        "seq_len": prompt_len + new_tokens,
        "new_tokens": new_tokens,
        "logprob_chunk": chunk,
        "weights_bytes": nbytes(params),
        "state_bytes": nbytes(state),
        # XLA:CPU has no bf16 matmul: its decode program holds an fp32 copy of every
        # layer's weights (2x their bf16 bytes) that an accelerator never makes. Measured:
        # 0.5B, batch 8, 256 + 256: decode temporaries 2.00 GiB with bf16 weights, 1.36
        # with fp32 ones (= the one per-layer copy `unstack_layers` makes), vs 0.67 GiB of
        # bf16 layer weights. `_fits` reports the sampling peak with and without it.
        "cpu_decode_fp32_copies_bytes": (
            2 * nbytes(params["layers"])
            if jax.default_backend() == "cpu" and jnp.dtype(dtype) == jnp.bfloat16
            else 0
        ),
        "backend": jax.devices()[0].platform,
        "disabled_xla_passes": disabled_passes(),
        "note": "compile-time buffer assignment of XLA on this backend; on CPU an estimate "
        "of the GPU's need, not a GPU measurement",
        "rows": rows,
    }


def force_host_devices(n: int) -> None:
    """Asks XLA:CPU for `n` host devices (a mesh to partition for, on a CPU-only
    machine; with an accelerator attached run under JAX_PLATFORMS=cpu). Only works
    before JAX has started its backends; otherwise make_mesh reports the device count
    it found."""
    import os

    flags = os.environ.get("XLA_FLAGS", "")
    if not _backends_started() and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _backends_started() -> bool:
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", None))


def _fits(res: dict[str, Any], device_gib: float) -> dict[str, Any]:
    """Peak per device: the larger of the update step and the sampling decode loop (which
    runs while the LoRA and Adam state are also held), against `device_gib`."""
    gib = 2.0**30
    update = max(r["step_estimate"] for r in res["rows"]) / gib  # the whole update program
    out: dict[str, Any] = {"update_gib": update}
    if res.get("sampling_gib"):
        state = res["state_bytes"] / gib
        prefill, decode = (res["sampling_gib"][k]["total"] for k in ("prefill", "decode"))
        out["sampling_xla_cpu_gib"] = max(prefill, decode) + state
        excess = res.get("cpu_decode_fp32_copies_bytes", 0) / gib
        out["sampling_gib"] = max(prefill, decode - excess) + state
    out["peak_gib"] = max(out["update_gib"], out.get("sampling_gib", 0.0))
    if device_gib:
        out["device_gib"] = device_gib
        out["fits"] = out["peak_gib"] <= device_gib
        if "sampling_xla_cpu_gib" in out:
            out["fits_even_with_cpu_fp32_copies"] = (
                max(out["update_gib"], out["sampling_xla_cpu_gib"]) <= device_gib
            )
    return out


def memory_for_recipe(config_path: str, device_gib: float = 0.0) -> dict[str, Any]:
    """Per-device memory of a recipe config (configs/qwen25_*.py): its model preset
    (from model.path), mesh, prompts x group, micro-batch, lengths and KL setting."""
    from gamecwm_jax.model import Qwen2Config, preset

    c = _load_config(config_path)
    name = c.model.path.rstrip("/").split("/")[-1]
    preset(name)  # fails clearly for a path that is not a Qwen2.5 size
    mesh = (c.mesh.data, c.mesh.fsdp, c.mesh.tensor)
    if -1 in mesh:
        raise ValueError(f"{config_path}: give every mesh size explicitly for an estimate")
    force_host_devices(int(np.prod(mesh)))
    res = memory_estimate(
        name.lower().removeprefix("qwen2.5-").removesuffix("-instruct"),
        c.rl.group_size,
        c.rl.max_prompt_len,
        c.rl.max_new_tokens,
        [c.rl.micro_batch_size],
        c.rl.logprob_chunk,
        [Qwen2Config.attn_block],
        beta=c.rl.beta,
        mesh_shape=mesh,
        prompts=c.rl.prompts_per_step,
    )
    res["config"] = config_path
    res["fits"] = _fits(res, device_gib)
    print(
        f"{config_path}: peak {res['fits']['peak_gib']:.1f} GiB a device (update "
        f"{res['fits']['update_gib']:.1f}, sampling {res['fits'].get('sampling_gib', 0):.1f}; "
        f"{res['fits'].get('sampling_xla_cpu_gib', 0):.1f} with XLA:CPU's fp32 weight copies)",
        file=sys.stderr,
    )
    return res


def _memory_row(r: dict[str, Any]) -> str:
    g = r["step"]
    gib = 2.0**30
    return (
        f"attn_block={r['attn_block']:<4} micro_batch={r['micro_batch']}: update program "
        f"arg {g['argument'] / gib:.2f} + out {g['output'] / gib:.2f} + temp {g['temp'] / gib:.2f}"
        f" - aliased {g['alias'] / gib:.2f} GiB = {g['total'] / gib:.2f} GiB "
        f"(compiled in {r['compile_s']:.0f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="", help="'' (CPU small config), 'tiny', '0.5b', '3b', ...")
    ap.add_argument(
        "--config",
        default="",
        help="CPU mode: the config to run (default configs/small_cpu.py); with --memory_only: "
        "a recipe (e.g. configs/qwen25_7b_gpu8.py) whose model, mesh and shapes are estimated",
    )
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument(
        "--rounds", type=int, default=1, help="with --against: alternate both sides this often"
    )
    ap.add_argument("--workdir", default="")
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt_len", type=int, default=4096)
    ap.add_argument("--new_tokens", type=int, default=4096)
    ap.add_argument(
        "--micro_batch", type=int, default=8, help="rows per pass (the 3B recipe's: a group)"
    )
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--skip_sampling", action="store_true")
    ap.add_argument("--attn_block", type=int, default=None, help="query block (0: off)")
    ap.add_argument("--memory_only", action="store_true", help="compile-time memory estimate")
    ap.add_argument("--micro_batches", default="1,2,4,8", help="with --memory_only")
    ap.add_argument(
        "--mesh", default="", help="with --memory_only: data,fsdp,tensor (per-device figures)"
    )
    ap.add_argument(
        "--prompts", type=int, default=0, help="with --memory_only: also the sampler's programs"
    )
    ap.add_argument("--device_gib", type=float, default=0.0, help="capacity to check against")
    ap.add_argument("--peak_tflops", type=float, default=0.0)
    ap.add_argument(
        "--against", default="", choices=("", "trl"), help="trl: TRL's GRPOTrainer side by side"
    )
    ap.add_argument(
        "--system_prompt",
        action="store_true",
        help="with --against: prompts with the project's system prompt (118-125 tokens, "
        "not the issue's ~90)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="per-pass timings of the update, and sampling merged vs LoRA on the side "
        "(--against's shapes)",
    )
    ap.add_argument("--json", default="", help="also write the result here")
    a = ap.parse_args(argv)
    if a.memory_only and a.config:
        res = memory_for_recipe(a.config, a.device_gib)
    elif a.memory_only:
        from gamecwm_jax.model.config import Qwen2Config

        default_block = Qwen2Config.attn_block  # the dataclass default
        mesh = tuple(int(x) for x in a.mesh.split(",")) if a.mesh else None
        if mesh is not None:
            force_host_devices(int(np.prod(mesh)))
        res = memory_estimate(
            a.preset or "3b",
            a.group,
            a.prompt_len,
            a.new_tokens,
            [int(x) for x in a.micro_batches.split(",")],
            a.chunk,
            [default_block if a.attn_block is None else a.attn_block]
            + ([] if mesh is not None else [0]),
            mesh_shape=mesh,
            prompts=a.prompts,
        )
        res["fits"] = _fits(res, a.device_gib)
    elif a.profile:
        res = profile_update()
    elif a.against == "trl":
        import tempfile

        workdir = a.workdir or tempfile.mkdtemp(prefix="bench_trl_")
        from gamecwm_jax.bench.trl_grpo import TrlShapes

        shapes = TrlShapes(system_prompt=a.system_prompt)
        res = against_trl(a.steps, workdir, shapes=shapes, rounds=a.rounds)
    elif a.preset:
        res = bench_update(
            a.preset,
            a.group,
            a.prompt_len,
            a.new_tokens,
            a.micro_batch,
            a.chunk,
            a.skip_sampling,
            a.peak_tflops,
            attn_block=a.attn_block,
        )
    else:
        import tempfile

        res = bench_cpu(
            a.config or "configs/small_cpu.py",
            a.steps,
            a.workdir or tempfile.mkdtemp(prefix="bench_train_"),
        )
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
