"""Batched sampling of G completions per prompt with a preallocated KV cache.

Two compiled programs per shape bucket:

  prefill  runs the left-padded prompts once (B rows, not B*G), samples each
           row's first token, and repeats the cache G times (prompt-major).
  decode   a `lax.while_loop` that feeds one token per step through the cache
           and exits as soon as every row has emitted an EOS id or the
           requested number of new tokens is reached. The cache is donated so
           the loop updates it in place.

Prompt lengths and the new-token budget are rounded up to powers of two, so a
training run with varying prompts compiles only a handful of programs; the
exact `max_new_tokens` is a traced value, not a shape.

Log-probabilities returned with each sampled token (what GRPO needs):

  logprobs      log_softmax(logits / temperature)[token]  -- the distribution
                the token was drawn from *before* top-k / top-p truncation.
                A fresh forward pass over prompt + completion reproduces it
                exactly (same positions, same temperature), which is what the
                policy-gradient ratio needs.
  logprobs_raw  log_softmax(logits)[token] (temperature 1).

Greedy decoding ignores temperature for the choice of token but still reports
both quantities as defined above.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gamecwm_jax.model import lora as lora_lib
from gamecwm_jax.parallel import CACHE_AXES, constrain, to_host
from gamecwm_jax.model.config import Qwen2Config
from gamecwm_jax.model.qwen2 import (
    Cache,
    Params,
    forward,
    init_cache,
    lm_head,
    unstack_cache,
    unstack_layers,
)


@dataclasses.dataclass(frozen=True)
class SampleOutput:
    """Completions for B prompts x G samples; rows are prompt-major
    (row = prompt_index * G + sample_index). All arrays are host numpy.

    tokens:        [B*G, N] int32, pad_id after the end of each completion.
    logprobs:      [B*G, N] float32, log_softmax(logits / T)[token]; 0 after end.
    logprobs_raw:  [B*G, N] float32, log_softmax(logits)[token]; 0 after end.
    lengths:       [B*G] int32 generated tokens, counting the EOS token if any.
    truncated:     [B*G] bool, True when no EOS was emitted within N tokens.
    prompt_tokens: [B, P] int32 left-padded prompts exactly as the model saw them
                   (P is the bucketed prompt length; pads are pad_id).
    prompt_mask:   [B, P] int32, 1 on real prompt tokens.
    num_samples:   G.
    """

    tokens: np.ndarray
    logprobs: np.ndarray
    logprobs_raw: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray
    prompt_tokens: np.ndarray
    prompt_mask: np.ndarray
    num_samples: int

    def sequences(self) -> dict[str, np.ndarray]:
        """Prompt + completion per row, laid out exactly as the sampler saw them.

        Returns tokens/mask/positions [B*G, P+N] and completion_mask [B*G, P+N]
        (1 on generated tokens, EOS included). `forward` on these, then
        log_softmax(logits / T) at position j-1 for every completion slot j,
        reproduces `logprobs` (the GRPO old-policy log-probs).
        """
        g = self.num_samples
        n = self.tokens.shape[1]
        comp_mask = (np.arange(n)[None] < self.lengths[:, None]).astype(np.int32)
        prompt_mask = np.repeat(self.prompt_mask, g, axis=0)
        mask = np.concatenate([prompt_mask, comp_mask], axis=1)
        return dict(
            tokens=np.concatenate([np.repeat(self.prompt_tokens, g, axis=0), self.tokens], axis=1),
            mask=mask,
            positions=np.maximum(np.cumsum(mask, axis=1) - 1, 0).astype(np.int32),
            completion_mask=np.concatenate([np.zeros_like(prompt_mask), comp_mask], axis=1),
        )

    def completion(self, row: int) -> list[int]:
        """The generated ids of one row, without padding (EOS included if any)."""
        return self.tokens[row, : self.lengths[row]].tolist()


def bucket_length(n: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(n, minimum): bounds the number of compiled
    shapes at log2(max_len) while wasting at most 2x padding."""
    return max(minimum, 1 << max(0, int(n) - 1).bit_length())


def left_pad(
    prompt_ids: Sequence[Sequence[int]], length: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """[B, length] left-padded tokens and their 0/1 mask."""
    tokens = np.full((len(prompt_ids), length), pad_id, np.int32)
    mask = np.zeros((len(prompt_ids), length), np.int32)
    for i, ids in enumerate(prompt_ids):
        if len(ids):
            tokens[i, length - len(ids) :] = ids
            mask[i, length - len(ids) :] = 1
    return tokens, mask


def sample_token(
    logits_rv: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    *,
    top_k: int,
    top_p: float,
    greedy: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws one token per row; returns (token, tempered logprob, raw logprob).

    top_k (0 = off) keeps the k most likely tokens, top_p (1.0 = off) the
    smallest prefix of them whose probability mass reaches p (always >= 1 token).
    """
    logits_rv = logits_rv.astype(jnp.float32)
    scaled_rv = logits_rv / temperature
    if greedy:
        token_r = jnp.argmax(logits_rv, axis=-1)
    else:
        vals_rk, idx_rk = scaled_rv, None
        if top_k:
            vals_rk, idx_rk = jax.lax.top_k(scaled_rv, top_k)
        if top_p < 1.0:
            if idx_rk is None:
                idx_rk = jnp.argsort(-scaled_rv, axis=-1)
                vals_rk = jnp.take_along_axis(scaled_rv, idx_rk, axis=-1)
            probs_rk = jax.nn.softmax(vals_rk, axis=-1)
            mass_before_rk = jnp.cumsum(probs_rk, axis=-1) - probs_rk
            vals_rk = jnp.where(mass_before_rk < top_p, vals_rk, -jnp.inf)
        choice_r = _inverse_cdf_sample(key, vals_rk)
        token_r = (
            choice_r if idx_rk is None else jnp.take_along_axis(idx_rk, choice_r[:, None], -1)[:, 0]
        )
    token_r = token_r.astype(jnp.int32)

    def logprob(l_rv):
        return jnp.take_along_axis(jax.nn.log_softmax(l_rv, axis=-1), token_r[:, None], -1)[:, 0]

    return token_r, logprob(scaled_rv), logprob(logits_rv)


def _inverse_cdf_sample(key: jax.Array, logits_rk: jax.Array) -> jax.Array:
    """Index drawn from softmax(logits) per row with one uniform per row.

    Exact like `jax.random.categorical`, but the Gumbel trick needs K random
    numbers per row per step, which costs more than the whole LM head on CPU.
    Inverse-CDF sampling in two levels instead: the vocabulary is cut into
    blocks of C ~ sqrt(K) entries, the uniform picks a block from the
    cumulative block masses, then an entry from the cumulative masses inside
    that block. Two cumsums of ~sqrt(K) instead of one of K (a cumsum is a
    scan, slow on every backend compared with a sum).
    """
    r, k = logits_rk.shape
    c = 1 << max(0, round(np.log2(np.sqrt(k))))
    probs_rk = jax.nn.softmax(logits_rk, axis=-1)
    probs_rnc = jnp.pad(probs_rk, ((0, 0), (0, -k % c))).reshape(r, -1, c)
    block_rn = jnp.sum(probs_rnc, axis=-1)
    cdf_rn = jnp.cumsum(block_rn, axis=-1)
    # u in (0, total): strictly positive so a zero-mass block is never chosen;
    # scaled by the total to absorb rounding.
    u_r = (
        jax.random.uniform(key, (r,), minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
        * cdf_rn[:, -1]
    )
    block_r = jnp.minimum(jnp.sum(cdf_rn < u_r[:, None], axis=-1), cdf_rn.shape[1] - 1)
    take = lambda x_rn: jnp.take_along_axis(x_rn, block_r[:, None], axis=-1)[:, 0]
    cdf_rc = jnp.cumsum(jnp.take_along_axis(probs_rnc, block_r[:, None, None], axis=1)[:, 0], -1)
    # The residual mass inside the chosen block, clipped into (0, block total]
    # so rounding can never land on a zero-probability entry at either end.
    rest_r = jnp.clip(
        u_r - (take(cdf_rn) - take(block_rn)),
        jnp.finfo(jnp.float32).tiny,
        cdf_rc[:, -1],
    )
    choice_r = block_r * c + jnp.sum(cdf_rc < rest_r[:, None], axis=-1)
    return jnp.minimum(choice_r, k - 1)


_STATIC = ("cfg", "lora_cfg", "top_k", "top_p", "greedy")


@functools.partial(jax.jit, static_argnames=_STATIC + ("num_samples", "cache_len"))
def _prefill(
    params: Params,
    lora: Params | None,
    tokens_bp: jax.Array,
    mask_bp: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    *,
    cfg: Qwen2Config,
    lora_cfg: lora_lib.LoraConfig | None,
    top_k: int,
    top_p: float,
    greedy: bool,
    num_samples: int,
    cache_len: int,
):
    """Prompt pass for B rows; returns the G-times repeated cache and first tokens."""
    b, p = tokens_bp.shape
    # On a device mesh the prompts' rows are split over data x fsdp (parallel.py).
    tokens_bp, mask_bp = constrain(tokens_bp, ("batch", None)), constrain(mask_bp, ("batch", None))
    positions_bp = jnp.maximum(jnp.cumsum(mask_bp, axis=1) - 1, 0)
    # The prompt pass uses a cache of exactly P slots, so its attention spans P
    # keys rather than the whole P + N budget; the slots for new tokens are
    # added below, while the cache is being repeated G times anyway.
    cache = init_cache(cfg, b, p, params["embed"].dtype)
    h_bpd, cache = forward(
        params,
        cfg,
        tokens_bp,
        positions_bp,
        mask_bp,
        lora=lora,
        lora_cfg=lora_cfg,
        cache=cache,
        return_hidden=True,
    )
    logits_bv = lm_head(params, cfg, h_bpd[:, -1])  # only the last position's logits
    g, extra = num_samples, cache_len - p

    def grow(x, batch_axis, slot_axis):
        """Repeat each row G times; append `extra` empty slots on the slot axis
        (k/v: [L, B, K, S, H], mask: [B, S])."""
        pads = [(0, extra) if a == slot_axis else (0, 0) for a in range(x.ndim)]
        return jnp.pad(jnp.repeat(x, g, axis=batch_axis), pads)

    cache = unstack_cache(
        {  # B*G rows split by rows and KV heads on a mesh
            "k": constrain(grow(cache["k"], 1, 3), CACHE_AXES),
            "v": constrain(grow(cache["v"], 1, 3), CACHE_AXES),
            "mask": constrain(grow(cache["mask"], 0, 1), ("batch", None)),
            "index": cache["index"],
        }
    )
    token_r, lp_r, raw_r = sample_token(
        jnp.repeat(logits_bv, g, axis=0),
        key,
        temperature,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
    )
    next_pos_r = jnp.repeat(jnp.sum(mask_bp, axis=1), g).astype(jnp.int32)
    return cache, token_r, lp_r, raw_r, next_pos_r


@functools.partial(jax.jit, static_argnames=_STATIC + ("out_len",), donate_argnames=("cache",))
def _decode(
    params: Params,
    lora: Params | None,
    cache: Cache,
    token_r: jax.Array,
    lp_r: jax.Array,
    raw_r: jax.Array,
    pos_r: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    max_new: jax.Array,
    eos_ids: jax.Array,
    pad_id: jax.Array,
    *,
    cfg: Qwen2Config,
    lora_cfg: lora_lib.LoraConfig | None,
    top_k: int,
    top_p: float,
    greedy: bool,
    out_len: int,
):
    """Token-by-token loop from the first sampled token until all rows finish.

    The loop runs the unrolled layout (`qwen2.unstack_layers`): the per-layer
    weights (and adapter, `lora.per_layer`) are split out of the stack once
    here, before the loop, so each step reads them in place instead of slicing
    (copying) them out of the stack L times per token. It costs one extra copy
    of the layer weights while the loop runs.
    """
    params = unstack_layers(params)
    lora = None if lora is None else lora_lib.per_layer(lora)
    r = token_r.shape[0]
    ones_r1 = jnp.ones((r, 1), jnp.int32)
    done_r = jnp.isin(token_r, eos_ids)
    init = dict(
        i=jnp.int32(1),
        token=token_r,
        pos=pos_r,
        cache=cache,
        done=done_r,
        lengths=jnp.ones((r,), jnp.int32),
        tokens=jnp.full((r, out_len), pad_id, jnp.int32).at[:, 0].set(token_r),
        logprobs=jnp.zeros((r, out_len), jnp.float32).at[:, 0].set(lp_r),
        logprobs_raw=jnp.zeros((r, out_len), jnp.float32).at[:, 0].set(raw_r),
    )
    for name in ("tokens", "logprobs", "logprobs_raw"):  # rows split like the cache's
        init[name] = constrain(init[name], ("batch", None))

    def cond(s):
        return (s["i"] < max_new) & ~jnp.all(s["done"])

    def body(s):
        logits_r1v, cache = forward(
            params,
            cfg,
            s["token"][:, None],
            s["pos"][:, None],
            ones_r1,
            lora=lora,
            lora_cfg=lora_cfg,
            cache=s["cache"],
        )
        tok_r, lp_r, raw_r = sample_token(
            logits_r1v[:, 0],
            jax.random.fold_in(key, s["i"]),
            temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
        )
        done = s["done"]
        tok_r = jnp.where(done, pad_id, tok_r)
        write = lambda buf, col: jax.lax.dynamic_update_slice(buf, col[:, None], (0, s["i"]))
        return dict(
            i=s["i"] + 1,
            token=tok_r,
            pos=s["pos"] + 1,
            cache=cache,
            done=done | jnp.isin(tok_r, eos_ids),
            lengths=s["lengths"] + (~done).astype(jnp.int32),
            tokens=write(s["tokens"], tok_r),
            logprobs=write(s["logprobs"], jnp.where(done, 0.0, lp_r)),
            logprobs_raw=write(s["logprobs_raw"], jnp.where(done, 0.0, raw_r)),
        )

    s = jax.lax.while_loop(cond, body, init)
    return (
        s["tokens"],
        s["logprobs"],
        s["logprobs_raw"],
        s["lengths"],
        ~s["done"],
        s["cache"],
    )


def sample(
    params: Params,
    cfg: Qwen2Config,
    prompt_ids: Sequence[Sequence[int]],
    *,
    key: jax.Array,
    num_samples: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    greedy: bool = False,
    lora: Params | None = None,
    lora_cfg: lora_lib.LoraConfig | None = None,
    eos_ids: Sequence[int] = (),
    pad_id: int = 0,
    max_seq_len: int | None = None,
    min_bucket: int = 16,
) -> SampleOutput:
    """Samples `num_samples` completions for each prompt (see module docstring).

    Args:
      prompt_ids: B token-id lists (not padded).
      key: PRNG key, split here (prefill / decode) and folded per step, so
        nothing is reused; pass a fresh key per call.
      max_seq_len: prompt + new tokens must fit; defaults to the model's
        max_position_embeddings.
    """
    eos_ids = tuple(int(e) for e in eos_ids) or cfg.eos_ids
    if not eos_ids:
        raise ValueError("no eos_ids given and the config has no eos_token_id")
    if not prompt_ids:
        raise ValueError("prompt_ids is empty")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature <= 0 and not greedy:
        raise ValueError("temperature must be > 0 (use greedy=True for argmax decoding)")
    limit = cfg.max_position_embeddings if max_seq_len is None else max_seq_len
    longest = max(len(p) for p in prompt_ids)
    if min(len(p) for p in prompt_ids) == 0:
        raise ValueError("every prompt needs at least one token")
    if longest + max_new_tokens > limit:
        raise ValueError(
            f"prompt of {longest} tokens + max_new_tokens={max_new_tokens} exceeds the "
            f"sequence limit of {limit} tokens; shorten the prompt or max_new_tokens"
        )

    prompt_len, out_len = (
        bucket_length(longest, min_bucket),
        bucket_length(max_new_tokens, min_bucket),
    )
    tokens_bp, mask_bp = left_pad(prompt_ids, prompt_len, pad_id)
    key_prefill, key_decode = jax.random.split(key)
    temperature_ = jnp.float32(temperature if temperature > 0 else 1.0)
    static = dict(
        cfg=cfg,
        lora_cfg=lora_cfg if lora is not None else None,
        top_k=int(top_k),
        top_p=float(top_p),
        greedy=bool(greedy),
    )
    cache, tok, lp, raw, pos = _prefill(
        params,
        lora,
        tokens_bp,
        mask_bp,
        key_prefill,
        temperature_,
        num_samples=num_samples,
        cache_len=prompt_len + out_len,
        **static,
    )
    tokens, logprobs, logprobs_raw, lengths, truncated, _ = _decode(
        params,
        lora,
        cache,
        tok,
        lp,
        raw,
        pos,
        key_decode,
        temperature_,
        jnp.int32(max_new_tokens),
        jnp.asarray(eos_ids, jnp.int32),
        jnp.int32(pad_id),
        out_len=out_len,
        **static,
    )
    n = max_new_tokens
    # Every host gets all rows (on a multi-host mesh each computed its own shard).
    return SampleOutput(
        tokens=to_host(tokens)[:, :n],
        logprobs=to_host(logprobs)[:, :n],
        logprobs_raw=to_host(logprobs_raw)[:, :n],
        lengths=to_host(lengths),
        truncated=to_host(truncated),
        prompt_tokens=tokens_bp,
        prompt_mask=mask_bp,
        num_samples=num_samples,
    )


def eos_ids_from(tokenizer: Any, cfg: Qwen2Config | None = None) -> tuple[int, ...]:
    """All ids that end a chat turn: the tokenizer's EOS, the config's, and
    Qwen's <|im_end|> / <|endoftext|> when the vocabulary has them."""
    ids = set(cfg.eos_ids if cfg is not None else ())
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in ("<|im_end|>", "<|endoftext|>") if t in vocab)
    return tuple(sorted(ids))


class Sampler:
    """`sample` bound to a model config and a tokenizer (or explicit EOS ids).

    Sampler(cfg, tokenizer)            text in / text out via `generate_text`
    Sampler(cfg, (eos_id, ...), pad_id=...)  token ids only
    """

    def __init__(
        self,
        cfg: Qwen2Config,
        tokenizer_or_eos_ids: Any,
        *,
        pad_id: int | None = None,
        max_seq_len: int | None = None,
        min_bucket: int = 16,
    ):
        self.cfg = cfg
        self.max_seq_len = max_seq_len
        self.min_bucket = min_bucket
        if isinstance(tokenizer_or_eos_ids, (int, np.integer)):
            tokenizer_or_eos_ids = (int(tokenizer_or_eos_ids),)
        if isinstance(tokenizer_or_eos_ids, (tuple, list)):
            self.tokenizer = None
            self.eos_ids = tuple(int(e) for e in tokenizer_or_eos_ids)
            self.pad_id = self.eos_ids[0] if pad_id is None else pad_id
        else:
            self.tokenizer = tokenizer_or_eos_ids
            self.eos_ids = eos_ids_from(self.tokenizer, cfg)
            tok_pad = self.tokenizer.pad_token_id
            self.pad_id = (
                pad_id
                if pad_id is not None
                else (tok_pad if tok_pad is not None else self.eos_ids[0])
            )

    def __call__(
        self,
        params: Params,
        prompts: Sequence[str] | Sequence[Sequence[int]],
        *,
        key: jax.Array,
        **kwargs,
    ) -> SampleOutput:
        """Samples from prompts given as strings (tokenized as-is, no template)
        or as token-id lists; kwargs as in `sample`."""
        prompt_ids = [self.encode(p) if isinstance(p, str) else list(p) for p in prompts]
        return sample(
            params,
            self.cfg,
            prompt_ids,
            key=key,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            max_seq_len=self.max_seq_len,
            min_bucket=self.min_bucket,
            **kwargs,
        )

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise ValueError("Sampler was built from eos ids; pass token ids, not text")
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, out: SampleOutput) -> list[str]:
        """Completion texts (special tokens such as <|im_end|> removed)."""
        if self.tokenizer is None:
            raise ValueError("Sampler was built from eos ids; no tokenizer to decode with")
        return [
            self.tokenizer.decode(out.completion(r), skip_special_tokens=True)
            for r in range(out.tokens.shape[0])
        ]
