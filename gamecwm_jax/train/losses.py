"""The training objectives, written once: group advantages, the clipped GRPO
loss in its variants, the k3 KL penalty and the SFT cross-entropy.

Every loss returns a `(numerator, denominator, aux)` triple instead of a ratio,
so gradient accumulation is exact: summing numerators (and their gradients) over
micro-batches and dividing once by the summed denominator gives the same update
as one big batch, whatever the micro-batch boundaries are. `loss = num / den`.

Notation (per completion token t of sequence b):

  r_bt   = exp(logp_new - logp_old)                        importance ratio
  pg_bt  = -min(r A_b, clip(r, 1 - eps_low, 1 + eps_high) A_b)
  kl_bt  = exp(logp_ref - logp_new) - (logp_ref - logp_new) - 1     (k3, >= 0)
  l_bt   = pg_bt + beta * kl_bt

Variants (`variant`):

  grpo        A = (R - mean_group) / (std_group + eps);  loss = mean_b [ sum_t l_bt / n_b ]
  dr_grpo     A =  R - mean_group;                         loss = sum_bt l_bt / (B * L_max)
  token_mean  A as grpo;                                   loss = sum_bt l_bt / sum_b n_b

where n_b is the number of completion tokens of sequence b and L_max the
configured maximum completion length (a constant, as Dr. GRPO prescribes, so
long and short answers are not re-weighted by their length). Sequences with
weight 0 (padding rows, groups whose rewards are all equal) contribute nothing
to either numerator or denominator.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

LOSS_VARIANTS: tuple[str, ...] = ("grpo", "dr_grpo", "token_mean")


def check_variant(variant: str) -> str:
    if variant not in LOSS_VARIANTS:
        raise ValueError(
            f"unknown loss variant {variant!r}; choose one of {', '.join(LOSS_VARIANTS)}"
        )
    return variant


def group_advantages(
    rewards_n: np.ndarray,
    group_size: int,
    variant: str,
    eps: float = 1e-4,
    neg_weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Group-relative advantages for prompt-major rewards [P * G].

    Returns (advantages [P * G] float32, zero_spread [P] bool). The std is the
    unbiased sample std (as TRL's GRPOTrainer), and only `grpo`/`token_mean`
    divide by it; `dr_grpo` keeps the raw centred reward. A group whose rewards
    are all equal has zero advantage everywhere: it carries no learning signal,
    and the caller drops it from the update and counts it. Negative advantages are
    then scaled by `neg_weight` (`weight_negative_advantages`; 1 is GRPO).
    """
    check_variant(variant)
    r_pg = np.asarray(rewards_n, np.float64).reshape(-1, group_size)
    centred_pg = r_pg - r_pg.mean(axis=1, keepdims=True)
    zero_spread_p = np.ptp(r_pg, axis=1) == 0.0
    if variant == "dr_grpo":
        adv_pg = centred_pg
    else:
        std_p1 = r_pg.std(axis=1, ddof=1 if group_size > 1 else 0, keepdims=True)
        denom_p1 = np.where(zero_spread_p[:, None], 1.0, std_p1 + eps)
        adv_pg = centred_pg / denom_p1
    adv_pg[zero_spread_p] = 0.0
    return weight_negative_advantages(adv_pg.reshape(-1), neg_weight), zero_spread_p


def weight_negative_advantages(adv: np.ndarray, weight: float) -> np.ndarray:
    """Multiplies the negative advantages by `weight` (>= 0); positive ones are kept.

    1 is GRPO. 0 reinforces only the samples that beat their group's mean ("PSR",
    positive sample reinforcement, in Zhu et al. 2025, "The Surprising Effectiveness of
    Negative Reinforcement in LLM Reasoning"); values in between down-weight the rest.
    """
    if weight < 0:
        raise ValueError(f"negative-advantage weight must be >= 0, got {weight}")
    adv = np.asarray(adv, np.float32)
    return adv if weight == 1.0 else np.where(adv < 0, adv * np.float32(weight), adv)


def k3_kl(
    logp_new_bt: jax.Array, logp_ref_bt: jax.Array, mask_bt: jax.Array | None = None
) -> jax.Array:
    """Per-token k3 estimator of KL(new || ref): unbiased, always >= 0.

    With `mask_bt` the log-ratio is zeroed where the mask is 0 *before* the exp:
    at a padding position the two log-probs are arbitrary, `exp(ref - new)` can
    overflow to inf, and masking afterwards (`inf * 0`) would give NaN, in the
    loss and in its gradient.
    """
    d_bt = logp_ref_bt - logp_new_bt
    if mask_bt is not None:
        d_bt = jnp.where(mask_bt > 0, d_bt, 0.0)
    return jnp.exp(d_bt) - d_bt - 1.0


def policy_loss_terms(
    logp_new_bt: jax.Array,
    logp_old_bt: jax.Array | None,
    adv_b: jax.Array,
    mask_bt: jax.Array,
    weight_b: jax.Array,
    *,
    variant: str,
    clip_eps_low: float,
    clip_eps_high: float,
    beta: float = 0.0,
    logp_ref_bt: jax.Array | None = None,
    max_completion_len: int | None = None,
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Clipped-ratio GRPO objective over a micro-batch of completions.

    Args:
      logp_new_bt: log-probs of the sampled tokens under the policy being trained.
      logp_old_bt: the same under the policy that sampled them (no gradient), or None:
        the stopped-gradient `logp_new_bt` (TRL's choice when each batch gets one
        update: the ratio is exactly 1 and its gradient is that of logp_new).
      adv_b: one advantage per sequence (from `group_advantages`).
      mask_bt: 1 on completion tokens (EOS included), 0 on padding.
      weight_b: 1 for sequences that take part, 0 for padding rows / dropped groups.
      beta: KL coefficient; with beta == 0 `logp_ref_bt` is ignored (may be None).
      max_completion_len: the constant L_max of `dr_grpo` (default: the T of the batch).

    Returns (numerator, denominator, aux) with aux holding token-summed metrics
    (`clipped`, `kl`, `ratio`, `tokens`) so they too accumulate exactly.
    """
    check_variant(variant)
    f32 = jnp.float32
    logp_new_bt = logp_new_bt.astype(f32)
    logp_old_bt = jax.lax.stop_gradient(
        logp_new_bt if logp_old_bt is None else logp_old_bt.astype(f32)
    )
    m_bt = mask_bt.astype(f32) * weight_b.astype(f32)[:, None]
    a_b1 = adv_b.astype(f32)[:, None]

    ratio_bt = jnp.exp(logp_new_bt - logp_old_bt)
    clipped_ratio_bt = jnp.clip(ratio_bt, 1.0 - clip_eps_low, 1.0 + clip_eps_high)
    pg_bt = -jnp.minimum(ratio_bt * a_b1, clipped_ratio_bt * a_b1)
    per_token_bt = pg_bt
    kl_bt = jnp.zeros_like(pg_bt)
    if beta > 0.0:
        if logp_ref_bt is None:
            raise ValueError("beta > 0 needs reference log-probs (logp_ref_bt)")
        kl_bt = k3_kl(logp_new_bt, jax.lax.stop_gradient(logp_ref_bt.astype(f32)), m_bt)
        per_token_bt = pg_bt + beta * kl_bt

    n_b = jnp.sum(mask_bt.astype(f32), axis=1)
    rows = jnp.sum(weight_b.astype(f32))
    if variant == "grpo":
        num = jnp.sum(jnp.sum(per_token_bt * m_bt, axis=1) / jnp.maximum(n_b, 1.0))
        den = rows
    elif variant == "dr_grpo":
        length = mask_bt.shape[1] if max_completion_len is None else max_completion_len
        num = jnp.sum(per_token_bt * m_bt)
        den = rows * float(length)
    else:  # token_mean
        num = jnp.sum(per_token_bt * m_bt)
        den = jnp.sum(m_bt)

    # A token is "clipped" when the clip is what the min picked and it zeroes the gradient.
    is_clipped_bt = ((ratio_bt < 1.0 - clip_eps_low) & (a_b1 < 0)) | (
        (ratio_bt > 1.0 + clip_eps_high) & (a_b1 > 0)
    )
    sg = jax.lax.stop_gradient
    aux = {
        "clipped": jnp.sum(is_clipped_bt * m_bt),
        "kl": sg(jnp.sum(kl_bt * m_bt)),
        "ratio": sg(jnp.sum(ratio_bt * m_bt)),
        "tokens": jnp.sum(m_bt),
    }
    return num, den, aux


def policy_loss(*args: Any, **kwargs: Any) -> jax.Array:
    """`num / den` of `policy_loss_terms` for a single (non-accumulated) batch."""
    num, den, _ = policy_loss_terms(*args, **kwargs)
    return num / jnp.maximum(den, 1e-9)


def sft_loss_terms(logp_bt: jax.Array, mask_bt: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Completion-only cross-entropy: (sum of -log p over target tokens, their count).

    Token-weighted, so accumulating micro-batches of different lengths gives the
    mean over every target token of the whole batch.
    """
    m_bt = mask_bt.astype(jnp.float32)
    return -jnp.sum(logp_bt.astype(jnp.float32) * m_bt), jnp.sum(m_bt)
