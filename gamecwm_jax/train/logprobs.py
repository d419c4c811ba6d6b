"""Per-token log-probs of completions without ever holding [B, T, V] logits.

The decoder returns final hidden states [B, T, D]; the LM head, log-softmax and
the gather of the target token run over chunks of `chunk` positions inside a
`lax.map`, each chunk under `jax.checkpoint`. Only one chunk's fp32 logits
[B, chunk, V] are alive at a time, in the forward pass and in the backward pass
(which recomputes them). For Qwen2.5-3B (V = 151936) and a batch of 8 x 8192
tokens the full logits would be 40 GB in fp32; chunks of 512 need 2.5 GB.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gamecwm_jax.model import forward, init_cache, lm_head

Params = dict[str, Any]


def positions_from_mask(mask_bt: jax.Array) -> jax.Array:
    """RoPE positions for a left-padded row: 0 at its first real token."""
    return jnp.maximum(jnp.cumsum(mask_bt.astype(jnp.int32), axis=1) - 1, 0)


def chunked_logprobs(
    params: Params,
    cfg: Any,
    h_btd: jax.Array,
    targets_bt: jax.Array,
    *,
    chunk: int,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """log p(targets_bt | h_btd) and optionally the entropy of each position.

    `h_btd[:, t]` is the hidden state that predicts `targets_bt[:, t]`. Logits are
    divided by `temperature` so the log-probs are those of the distribution the
    sampler drew from. The entropy is a metric only (no gradient).
    """
    b, t, d = h_btd.shape
    chunk = max(1, min(chunk, t))
    n = -(-t // chunk)
    pad = n * chunk - t
    h_nbcd = jnp.pad(h_btd, ((0, 0), (0, pad), (0, 0))).reshape(b, n, chunk, d).swapaxes(0, 1)
    tg_nbc = jnp.pad(targets_bt, ((0, 0), (0, pad))).reshape(b, n, chunk).swapaxes(0, 1)

    @jax.checkpoint
    def one_chunk(xs):
        h_bcd, tg_bc = xs
        logits_bcv = lm_head(params, cfg, h_bcd) / temperature
        logz_bc = jax.nn.logsumexp(logits_bcv, axis=-1)
        picked_bc = jnp.take_along_axis(logits_bcv, tg_bc[..., None], axis=-1)[..., 0]
        logp_bc = picked_bc - logz_bc
        if not with_entropy:
            return logp_bc, jnp.zeros_like(logp_bc)
        probs_bcv = jax.nn.softmax(jax.lax.stop_gradient(logits_bcv), axis=-1)
        ent_bc = jax.lax.stop_gradient(logz_bc) - jnp.sum(
            probs_bcv * jax.lax.stop_gradient(logits_bcv), -1
        )
        return logp_bc, ent_bc

    logp_nbc, ent_nbc = jax.lax.map(one_chunk, (h_nbcd, tg_nbc))
    logp_bt = logp_nbc.swapaxes(0, 1).reshape(b, n * chunk)[:, :t]
    ent_bt = ent_nbc.swapaxes(0, 1).reshape(b, n * chunk)[:, :t] if with_entropy else None
    return logp_bt, ent_bt


def completion_logprobs(
    params: Params,
    cfg: Any,
    tokens_bt: jax.Array,
    mask_bt: jax.Array,
    prompt_len: int,
    *,
    lora: Params | None = None,
    lora_cfg: Any = None,
    chunk: int = 512,
    temperature: float = 1.0,
    dropout_key: jax.Array | None = None,
    remat: bool | None = None,
    with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """Log-probs [B, C] of the completion part of `[prompt | completion]` rows.

    Layout: the first `prompt_len` columns are the left-padded prompt, the
    remaining C = T - prompt_len columns the right-padded completion; mask_bt
    marks real tokens. `lora=None` scores under the base (reference) policy.
    """
    positions_bt = positions_from_mask(mask_bt)
    h_btd, _ = forward(
        params,
        cfg,
        tokens_bt,
        positions_bt,
        mask_bt,
        lora=lora,
        lora_cfg=lora_cfg,
        return_hidden=True,
        dropout_key=dropout_key,
        remat=remat,
    )
    h_pred_bcd = h_btd[:, prompt_len - 1 : -1]
    return chunked_logprobs(
        params,
        cfg,
        h_pred_bcd,
        tokens_bt[:, prompt_len:],
        chunk=chunk,
        temperature=temperature,
        with_entropy=with_entropy,
    )


def shared_prompt_logprobs(
    params: Params,
    cfg: Any,
    prompt_tokens_ut: jax.Array,
    prompt_mask_ut: jax.Array,
    row_prompt_r: jax.Array,
    tokens_rc: jax.Array,
    mask_rc: jax.Array,
    *,
    lora: Params | None = None,
    lora_cfg: Any = None,
    chunk: int = 512,
    temperature: float | jax.Array = 1.0,
    remat: bool | None = None,
    with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """Log-probs [R, C] of R completions that continue U <= R shared prompts.

    GRPO samples G completions of each prompt, so scoring `[prompt | completion]` rows
    runs every prompt G times. Here each prompt runs once: its keys and values go into a
    KV cache (`forward` with a cache, as in prefill), the cache rows are gathered for the
    completions (`row_prompt_r[r]` is the prompt row r continues) and the completions run
    on top of them. Same keys, values, positions and masks as `completion_logprobs` on the
    concatenated rows, so the same numbers up to summation order; the prompt work drops
    from R to U rows. Gradients flow back through the gather, so a prompt's LoRA gradient
    is the sum over the completions that continue it, as with repeated rows.
    """
    u, tp = prompt_tokens_ut.shape
    c = tokens_rc.shape[1]
    dtype = params["embed"].dtype
    cache = init_cache(cfg, u, tp, dtype)
    h_utd, cache = forward(
        params,
        cfg,
        prompt_tokens_ut,
        positions_from_mask(prompt_mask_ut),
        prompt_mask_ut,
        lora=lora,
        lora_cfg=lora_cfg,
        cache=cache,
        return_hidden=True,
        remat=remat,
    )
    # Completion slots follow the prompt's: the prompt's cache, widened by C empty slots.
    widen = lambda x: jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, c), (0, 0)))[:, row_prompt_r]
    cache_r = {
        "k": widen(cache["k"]),
        "v": widen(cache["v"]),
        "mask": jnp.pad(cache["mask"], ((0, 0), (0, c)))[row_prompt_r],
        "index": cache["index"],
    }
    full_mask_rt = jnp.concatenate([prompt_mask_ut[row_prompt_r], mask_rc], axis=1)
    h_rcd, _ = forward(
        params,
        cfg,
        tokens_rc,
        positions_from_mask(full_mask_rt)[:, tp:],
        mask_rc,
        lora=lora,
        lora_cfg=lora_cfg,
        cache=cache_r,
        return_hidden=True,
        remat=remat,
    )
    # The last prompt position predicts the first completion token (prompts are left-padded).
    h_pred_rcd = jnp.concatenate([h_utd[row_prompt_r, -1:], h_rcd[:, :-1]], axis=1)
    return chunked_logprobs(
        params,
        cfg,
        h_pred_rcd,
        tokens_rc,
        chunk=chunk,
        temperature=temperature,
        with_entropy=with_entropy,
    )
