"""Jitted SFT gradient and update, and no-gradient scoring of `[prompt | completion]` rows.

SFT's step is split in two kinds of compiled program: a micro-batch gradient (loss
numerator, denominator and d numerator / d LoRA) and one optimizer update that divides
the summed gradient by the summed denominator. Python loops over micro-batches in
between, so accumulation is exact (see losses.py) and micro-batches of different lengths
(SFT pairs vary a lot) simply compile once per length bucket. Only the LoRA pytree is
differentiated; the base params are constants. GRPO's update, whose micro-batches all
share one shape, is one program instead (train/grpo.py).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from gamecwm_jax.train import losses
from gamecwm_jax.train.logprobs import completion_logprobs

Params = dict[str, Any]
_MODEL_STATIC = ("cfg", "lora_cfg", "prompt_len", "chunk", "remat")


@functools.partial(jax.jit, static_argnames=_MODEL_STATIC)
def sft_grad(
    lora: Params,
    params: Params,
    tokens_bt: jax.Array,
    mask_bt: jax.Array,
    dropout_key: jax.Array | None,
    *,
    cfg: Any,
    lora_cfg: Any,
    prompt_len: int,
    chunk: int,
    remat: bool,
) -> tuple[Params, jax.Array, jax.Array]:
    """(d num / d lora, num, den) of the completion-only cross-entropy."""

    def num_fn(lora_):
        logp_bc, _ = completion_logprobs(
            params,
            cfg,
            tokens_bt,
            mask_bt,
            prompt_len,
            lora=lora_,
            lora_cfg=lora_cfg,
            chunk=chunk,
            dropout_key=dropout_key,
            remat=remat,
        )
        return losses.sft_loss_terms(logp_bc, mask_bt[:, prompt_len:])

    (num, den), grad = jax.value_and_grad(num_fn, has_aux=True)(lora)
    return grad, num, den


@functools.partial(jax.jit, static_argnames=("cfg", "lora_cfg", "prompt_len", "chunk"))
def score_logprobs(
    params: Params,
    lora: Params | None,
    tokens_bt: jax.Array,
    mask_bt: jax.Array,
    temperature: jax.Array,
    *,
    cfg: Any,
    lora_cfg: Any,
    prompt_len: int,
    chunk: int,
) -> jax.Array:
    """Completion log-probs without gradient: the reference policy (lora=None) or
    the sampling policy when old log-probs are recomputed."""
    logp_bc, _ = completion_logprobs(
        params,
        cfg,
        tokens_bt,
        mask_bt,
        prompt_len,
        lora=lora,
        lora_cfg=lora_cfg if lora is not None else None,
        chunk=chunk,
        temperature=temperature,
    )
    return logp_bc


@jax.jit
def tree_add(a: Params, b: Params) -> Params:
    return jax.tree.map(jnp.add, a, b)


def update_count(opt_state: Any) -> int:
    """How many updates the optimizer has applied: the count its lr schedule reads.

    Logging the lr from this count (not from the step number) stays right when steps
    take no update (every group with equal rewards) or several (`inner_steps`).
    """
    counts = [
        int(s.count)
        for s in jax.tree.leaves(
            opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByScheduleState)
        )
        if isinstance(s, optax.ScaleByScheduleState)
    ]
    if len(counts) != 1:
        raise ValueError(
            f"expected one scheduled learning rate in the optimizer, found {len(counts)}"
        )
    return counts[0]


def make_update(optimizer: optax.GradientTransformation):
    """Jitted `(lora, opt_state, grad_sum, den) -> (lora, opt_state, grad_norm)`.

    The gradient is grad_sum / den (exact accumulation); the reported norm is the
    one before clipping (what `clip_by_global_norm` compares to its threshold).
    """

    @jax.jit
    def update(lora: Params, opt_state: Any, grad_sum: Params, den: jax.Array):
        grad = jax.tree.map(lambda g: g / jnp.maximum(den, 1e-9), grad_sum)
        updates, opt_state = optimizer.update(grad, opt_state, lora)
        return optax.apply_updates(lora, updates), opt_state, optax.tree.norm(grad)

    return update
