"""Sample completions from a Qwen2 checkpoint (optionally with a LoRA adapter).

  python -m gamecwm_jax.generate --model checkpoints/Qwen2.5-3B-Instruct \
      --prompt "Write a Python tic-tac-toe rules module." --greedy --max-new-tokens 512

The prompt is wrapped in the tokenizer's chat template (use --raw to feed it
verbatim). `--json` prints a single JSON object with the token ids and their
log-probabilities (see `gamecwm_jax.sampler` for their exact definition).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

import jax
import jax.numpy as jnp


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m gamecwm_jax.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="HF checkpoint dir or hub id")
    p.add_argument(
        "--prompt",
        required=True,
        action="append",
        help="user message (repeat the flag for a batch of prompts)",
    )
    p.add_argument("--system", default=None, help="system message (default: the template's)")
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    p.add_argument("--lora", default=None, help="adapter dir written by model.lora.save_lora")
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0, help="0 disables top-k")
    p.add_argument("--top-p", type=float, default=1.0, help="1.0 disables nucleus sampling")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype",
        choices=("auto", "bfloat16", "float32"),
        default="auto",
        help="auto: float32 on CPU (bf16 matmuls are slow there), else bfloat16",
    )
    p.add_argument("--code", action="store_true", help="print only the extracted Python code")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here so `--help` is instant.
    from gamecwm_jax.model import extract_code, load_lora, load_pretrained, load_tokenizer
    from gamecwm_jax.model.checkpoint import resolve_checkpoint
    from gamecwm_jax.model.tokenizer import chat_prompt
    from gamecwm_jax.sampler import Sampler

    dtype = args.dtype
    if dtype == "auto":
        dtype = "float32" if jax.default_backend() == "cpu" else "bfloat16"
    try:
        ckpt = resolve_checkpoint(args.model)
        cfg, params = load_pretrained(ckpt, dtype=jnp.dtype(dtype))
        tokenizer = load_tokenizer(ckpt)
        lora, lora_cfg = load_lora(args.lora) if args.lora else (None, None)
    except (OSError, RuntimeError, ValueError) as e:  # bad path, offline hub id, broken files
        print(f"error: {e}", file=sys.stderr)
        return 2

    texts = [p if args.raw else chat_prompt(tokenizer, p, system=args.system) for p in args.prompt]
    sampler = Sampler(cfg, tokenizer)
    start = time.perf_counter()
    out = sampler(
        params,
        texts,
        key=jax.random.key(args.seed),
        num_samples=args.num_samples,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        lora=lora,
        lora_cfg=lora_cfg,
    )
    seconds = time.perf_counter() - start
    completions = sampler.decode(out)

    if args.json:
        rows = []
        for r, text in enumerate(completions):
            n = int(out.lengths[r])
            rows.append(
                dict(
                    prompt_index=r // args.num_samples,
                    sample_index=r % args.num_samples,
                    text=text,
                    code=extract_code(text),
                    token_ids=out.tokens[r, :n].tolist(),
                    logprobs=out.logprobs[r, :n].tolist(),
                    logprobs_raw=out.logprobs_raw[r, :n].tolist(),
                    truncated=bool(out.truncated[r]),
                )
            )
        json.dump(
            dict(
                model=args.model,
                lora=args.lora,
                prompts=texts,
                eos_ids=list(sampler.eos_ids),
                greedy=args.greedy,
                temperature=args.temperature,
                top_k=args.top_k,
                top_p=args.top_p,
                seed=args.seed,
                seconds=seconds,
                completions=rows,
            ),
            sys.stdout,
        )
        sys.stdout.write("\n")
        return 0

    for r, text in enumerate(completions):
        status = "truncated" if out.truncated[r] else "eos"
        print(
            f"=== prompt {r // args.num_samples} sample {r % args.num_samples} "
            f"({out.lengths[r]} tokens, {status}) ==="
        )
        print(extract_code(text) if args.code else text)
    print(f"[{int(out.lengths.sum())} tokens in {seconds:.2f}s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
