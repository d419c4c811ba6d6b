"""Sampler throughput benchmark.

CPU mode (default without a GPU): our sampler vs transformers' `generate` on
the same random ~40M-parameter Qwen2 weights, same batch, prompt length and
number of new tokens, fp32, measured side by side:

  python -m gamecwm_jax.bench.sampler

GPU mode: Qwen2.5 shapes with random bf16 weights, reporting tokens/s and the
fraction of the memory-bandwidth roofline of the decode loop:

  python -m gamecwm_jax.bench.sampler --preset 3b      # batch 64, 1024 + 1024

Roofline: a decode step must at least read every weight once (the tied
embedding counts once, as the LM head) plus the filled part of the KV cache,
on average prompt + new/2 slots. bytes / bandwidth is the fastest possible step;
the reported fraction is that time divided by the measured decode step time.
Decode time is the full run minus a prefill-only run (max_new_tokens=1).

Memory without a GPU: `--memory-only` compiles the prefill and decode programs from
shapes (no weights allocated) and prints XLA's buffer sizes for each. On CPU that is
XLA:CPU's buffer assignment, an estimate of a GPU's need, not a measurement:

  python -m gamecwm_jax.bench.sampler --preset 3b --memory-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gamecwm_jax import sampler as sampler_lib
from gamecwm_jax.bench import disabled_passes, program_bytes
from gamecwm_jax.model import Qwen2Config, count_params, init_params, load_pretrained, preset
from gamecwm_jax.model.qwen2 import param_shapes
from gamecwm_jax.sampler import sample

# Peak HBM bandwidth (bytes/s) by substring of `device_kind`.
_BANDWIDTH = {
    "H200": 4.8e12,
    "H100": 3.35e12,
    "A100": 2.0e12,
    "L4": 0.3e12,
    "A10": 0.6e12,
    "V100": 0.9e12,
    "TPU v5 lite": 0.82e12,
    "TPU v4": 1.2e12,
}
_CPU_BANDWIDTH = 20e9  # a rough figure for a small cloud VM; pass --bandwidth-gbs to override

# ~41M parameters: big enough that matmuls, not Python, should dominate.
SMALL = Qwen2Config(
    vocab_size=32768,
    hidden_size=512,
    intermediate_size=1536,
    num_hidden_layers=8,
    num_attention_heads=8,
    num_key_value_heads=2,
    rope_theta=1e6,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)
# ~44M parameters in 24 thinner layers (Qwen2.5 has 24-36): per-layer overheads weigh more.
DEEP = Qwen2Config(
    vocab_size=16384,
    hidden_size=384,
    intermediate_size=1024,
    num_hidden_layers=24,
    num_attention_heads=6,
    num_key_value_heads=2,
    rope_theta=1e6,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)
TINY = Qwen2Config(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)


def default_bandwidth() -> float:
    kind = jax.devices()[0].device_kind
    for name, bw in _BANDWIDTH.items():
        if name.lower() in kind.lower():
            return bw
    return _CPU_BANDWIDTH


def decode_bytes_per_step(
    cfg: Qwen2Config, params: Any, batch: int, prompt_len: int, new_tokens: int, kv_itemsize: int
) -> float:
    """Minimum HBM bytes one decode step reads: all weights + the mean filled KV cache.

    An untied input embedding is only gathered (B rows), so it is left out; a
    tied one is read in full by the LM head and counted.
    """
    read = params if cfg.tie_word_embeddings else {k: v for k, v in params.items() if k != "embed"}
    weight_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(read))
    mean_slots = prompt_len + new_tokens / 2
    kv_bytes = 2 * cfg.num_hidden_layers * batch * mean_slots * cfg.kv_dim * kv_itemsize
    return float(weight_bytes + kv_bytes)


def medians(fns: dict[str, Callable[[], Any]], runs: int) -> dict[str, float]:
    """Median wall seconds per function: one warm-up (compile) call, then `runs`
    timed calls, one function after the other in this process.

    Not interleaved on purpose: alternating JAX and torch calls left torch's
    OpenMP workers stalling behind XLA's thread pool on a 2-core machine (10x
    slower transformers timings that measure contention, not generate).
    """
    out = {}
    for name, fn in fns.items():
        fn()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def ours(
    params: Any, cfg: Qwen2Config, prompts: np.ndarray, new_tokens: int
) -> Callable[[int], Any]:
    """Runner of our sampler for n new tokens (fresh key per call)."""
    ids = prompts.tolist()
    calls = iter(range(1 << 30))

    def run(n: int):
        out = sample(
            params,
            cfg,
            ids,
            key=jax.random.key(next(calls)),
            max_new_tokens=n,
            temperature=1.0,
            eos_ids=(-1,),
            pad_id=0,
        )  # no EOS: exactly n tokens per row
        assert out.lengths.min() == n
        return out

    return run


def memory_estimate(
    cfg: Qwen2Config,
    dtype: Any,
    batch: int,
    prompt_len: int,
    new_tokens: int,
    num_samples: int = 1,
    mesh: Any = None,
) -> dict[str, dict[str, float]]:
    """GiB of arguments / outputs / temporaries / donated-and-reused / total of the
    prefill and decode programs for one `sample` call with these shapes
    (`bench.program_bytes` on abstract inputs): `batch` prompts x `num_samples`.

    With a device `mesh` (gamecwm_jax.parallel) the inputs carry the trainer's
    shardings and the programs are partitioned for it: the figures are per device.
    """
    import contextlib

    from jax.sharding import NamedSharding

    from gamecwm_jax import parallel

    sds = jax.ShapeDtypeStruct
    params = jax.tree.map(
        lambda shape: sds(shape, dtype), param_shapes(cfg), is_leaf=lambda x: isinstance(x, tuple)
    )
    rows = batch * num_samples

    def placed(shape, dt, logical):
        if mesh is None:
            return sds(shape, dt)
        return sds(
            shape, dt, sharding=NamedSharding(mesh, parallel.spec(shape, logical, mesh.shape))
        )

    if mesh is not None:
        params = parallel.abstract(params, parallel.param_shardings(params, cfg, mesh))
    p, n = sampler_lib.bucket_length(prompt_len), sampler_lib.bucket_length(new_tokens)
    static = dict(cfg=cfg, lora_cfg=None, top_k=0, top_p=1.0, greedy=False)
    key, scalar_f = jax.eval_shape(lambda: jax.random.key(0)), sds((), jnp.float32)
    row_i, row_f = placed((rows,), jnp.int32, ("batch",)), placed((rows,), jnp.float32, ("batch",))
    prompts = placed((batch, p), jnp.int32, ("batch", None))
    prefill_args = (params, None, prompts, prompts, key, scalar_f)
    prefill_kw = dict(num_samples=num_samples, cache_len=p + n, **static)
    with jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext():
        prefill = sampler_lib._prefill.lower(*prefill_args, **prefill_kw)
        cache = jax.eval_shape(lambda *a: sampler_lib._prefill(*a, **prefill_kw)[0], *prefill_args)
        by_rank = {4: parallel.LAYER_CACHE_AXES, 2: ("batch", None), 0: ()}
        cache = jax.tree.map(lambda x: placed(x.shape, x.dtype, by_rank[x.ndim]), cache)
        decode = sampler_lib._decode.lower(
            params,
            None,
            cache,
            row_i,
            row_f,
            row_f,
            row_i,
            key,
            scalar_f,
            sds((), jnp.int32),
            sds((1,), jnp.int32),
            sds((), jnp.int32),
            out_len=n,
            **static,
        )
        return {
            name: {k: v / 2**30 for k, v in program_bytes(lowered).items()}
            for name, lowered in (("prefill", prefill), ("decode", decode))
        }


def hf_generate(
    model_dir: str, prompts: np.ndarray, new_tokens: int, threads: int | None = None
) -> Callable[[], Any]:
    """Runner of transformers' sampling `generate` (its KV cache, fp32)."""
    import torch
    from transformers import Qwen2ForCausalLM

    if threads:
        torch.set_num_threads(threads)

    model = Qwen2ForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    input_ids = torch.tensor(prompts, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)

    def run():
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                eos_token_id=None,
                pad_token_id=0,
            )
        assert out.shape[1] == prompts.shape[1] + new_tokens

    return run


def _save_hf_random(cfg: Qwen2Config, path: str) -> None:
    """Random HF checkpoint with `cfg`'s shapes (so both sides share weights)."""
    import torch
    from transformers import Qwen2Config as HFConfig
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(0)
    hf_cfg = HFConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=cfg.rope_theta,
        rms_norm_eps=cfg.rms_norm_eps,
        tie_word_embeddings=cfg.tie_word_embeddings,
    )
    Qwen2ForCausalLM(hf_cfg).save_pretrained(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    on_gpu = jax.default_backend() == "gpu"
    p = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.bench.sampler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        default="3b" if on_gpu else "small",
        help="small (~41M), deep (~44M, 24 layers), tiny, or a Qwen2.5 size: 0.5b, 1.5b, 3b, 7b",
    )
    p.add_argument("--batch", type=int, default=None, help="default 64 (Qwen presets) / 8")
    p.add_argument("--prompt-len", type=int, default=None, help="default 1024 / 128")
    p.add_argument("--new-tokens", type=int, default=None, help="default 1024 / 128")
    p.add_argument(
        "--dtype",
        choices=("bfloat16", "float32"),
        default=None,
        help="default bfloat16 for Qwen presets, float32 otherwise",
    )
    p.add_argument("--runs", type=int, default=3, help="timed runs after warm-up (median)")
    p.add_argument(
        "--compare-hf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time transformers.generate (default: on for small/deep/tiny)",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the transformers side (default: torch's own)",
    )
    p.add_argument(
        "--bandwidth-gbs",
        type=float,
        default=None,
        help="device memory bandwidth in GB/s (default: by device kind)",
    )
    p.add_argument(
        "--memory-only",
        action="store_true",
        help="compile prefill and decode from shapes and print their memory (no run)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    qwen = args.preset not in ("small", "deep", "tiny")
    args.batch = args.batch or (64 if qwen else 8)
    args.prompt_len = args.prompt_len or (1024 if qwen else 128)
    args.new_tokens = args.new_tokens or (1024 if qwen else 128)
    args.dtype = args.dtype or ("bfloat16" if qwen else "float32")
    args.compare_hf = (not qwen) if args.compare_hf is None else args.compare_hf
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg = {"small": SMALL, "deep": DEEP, "tiny": TINY}.get(args.preset) or preset(args.preset)
    dtype = jnp.dtype(args.dtype)
    prompts = np.random.default_rng(0).integers(0, cfg.vocab_size, (args.batch, args.prompt_len))
    bandwidth = args.bandwidth_gbs * 1e9 if args.bandwidth_gbs else default_bandwidth()
    if args.memory_only:
        start = time.perf_counter()
        mem = memory_estimate(cfg, dtype, args.batch, args.prompt_len, args.new_tokens)
        result = dict(
            device=jax.devices()[0].device_kind,
            preset=args.preset,
            dtype=args.dtype,
            batch=args.batch,
            prompt_len=args.prompt_len,
            new_tokens=args.new_tokens,
            compile_s=time.perf_counter() - start,
            gib=mem,
            disabled_xla_passes=disabled_passes(),
            note="XLA compile-time buffer sizes; on CPU an estimate of a GPU's need",
        )
        print(json.dumps(result, indent=None if args.json else 1))
        return result

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.compare_hf:
            _save_hf_random(cfg, tmp)
            cfg_loaded, params = load_pretrained(tmp, dtype=dtype)
            cfg = Qwen2Config(**{**cfg_loaded.__dict__, "eos_token_id": None})
        else:
            params = init_params(jax.random.key(0), cfg, dtype)
        run = ours(params, cfg, prompts, args.new_tokens)
        fns = {"ours": lambda: run(args.new_tokens), "ours_prefill": lambda: run(1)}
        if args.compare_hf:
            fns["hf"] = hf_generate(tmp, prompts, args.new_tokens, args.torch_threads)
        med = medians(fns, args.runs)
        total_s, prefill_s = med["ours"], med["ours_prefill"]
        # Timing noise can make the difference non-positive at toy sizes: report NaN.
        decode_s = total_s - prefill_s if total_s > prefill_s else float("nan")
        decode_step_s = decode_s / max(args.new_tokens - 1, 1)
        step_bytes = decode_bytes_per_step(
            cfg, params, args.batch, args.prompt_len, args.new_tokens, dtype.itemsize
        )
        rows.append(
            dict(
                impl="gamecwm_jax",
                seconds=total_s,
                tokens_per_s=args.batch * args.new_tokens / total_s,
                prefill_s=prefill_s,
                decode_step_ms=1e3 * decode_step_s,
                roofline_fraction=step_bytes / bandwidth / decode_step_s,
            )
        )
        if args.compare_hf:
            rows.append(
                dict(
                    impl="transformers.generate",
                    seconds=med["hf"],
                    tokens_per_s=args.batch * args.new_tokens / med["hf"],
                )
            )

    result = dict(
        device=jax.devices()[0].device_kind,
        backend=jax.default_backend(),
        preset=args.preset,
        params=count_params(params),
        dtype=args.dtype,
        batch=args.batch,
        prompt_len=args.prompt_len,
        new_tokens=args.new_tokens,
        runs=args.runs,
        bandwidth_gbs=bandwidth / 1e9,
        torch_threads=args.torch_threads,
        decode_bytes_per_step=step_bytes,
        rows=rows,
    )
    if args.compare_hf:
        result["speedup_vs_hf"] = rows[0]["tokens_per_s"] / rows[1]["tokens_per_s"]
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return result


def _print_table(r: dict[str, Any]) -> None:
    print(
        f"device={r['device']} ({r['backend']})  preset={r['preset']}  "
        f"params={r['params'] / 1e6:.1f}M  dtype={r['dtype']}  batch={r['batch']}  "
        f"prompt={r['prompt_len']}  new={r['new_tokens']}  median of {r['runs']} runs"
    )
    print(
        f"{'impl':<24}{'seconds':>10}{'tokens/s':>12}{'prefill s':>11}{'step ms':>10}"
        f"{'roofline':>10}"
    )
    for row in r["rows"]:
        extra = ""
        if "prefill_s" in row:
            extra = (
                f"{row['prefill_s']:>11.3f}{row['decode_step_ms']:>10.2f}"
                f"{row['roofline_fraction']:>9.1%}"
            )
        print(f"{row['impl']:<24}{row['seconds']:>10.3f}{row['tokens_per_s']:>12.1f}{extra}")
    print(
        f"roofline: {r['decode_bytes_per_step'] / 1e6:.1f} MB read per decode step at "
        f"{r['bandwidth_gbs']:.0f} GB/s"
    )
    if "speedup_vs_hf" in r:
        print(f"speedup vs transformers.generate: {r['speedup_vs_hf']:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
