"""The GRPO / SFT objectives against a direct NumPy transcription of the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.train import losses

CLIP_LO, CLIP_HI = 0.2, 0.28


def _inputs(seed=0, b=6, t=7):
    rng = np.random.default_rng(seed)
    new = rng.normal(-1.5, 0.5, (b, t)).astype(np.float32)
    old = (new + rng.normal(0, 0.3, (b, t))).astype(
        np.float32
    )  # ratios well inside and outside the clip
    ref = (new + rng.normal(0, 0.3, (b, t))).astype(np.float32)
    adv = rng.normal(0, 1, b).astype(np.float32)
    lengths = rng.integers(1, t + 1, b)
    mask = (np.arange(t)[None] < lengths[:, None]).astype(np.float32)
    weight = np.ones(b, np.float32)
    weight[-1] = 0.0  # a dropped / padding row
    return new, old, ref, adv, mask, weight


def _numpy_loss_and_grad(new, old, ref, adv, mask, weight, variant, beta, lmax):
    """loss and d loss / d logp_new, per the module docstring, in float64."""
    new, old, ref = (x.astype(np.float64) for x in (new, old, ref))
    a = adv.astype(np.float64)[:, None]
    r = np.exp(new - old)
    c = np.clip(r, 1 - CLIP_LO, 1 + CLIP_HI)
    unclipped_wins = r * a <= c * a
    pg = -np.minimum(r * a, c * a)
    # d(-min)/d new: -A r where the unclipped term is the min (or clip inactive), else 0.
    inside = (r >= 1 - CLIP_LO) & (r <= 1 + CLIP_HI)
    dpg = np.where(unclipped_wins | inside, -a * r, 0.0)
    d = ref - new
    kl = np.exp(d) - d - 1
    dkl = -np.exp(d) + 1
    l, dl = pg + beta * kl, dpg + beta * dkl
    m = mask * weight[:, None]
    n = mask.sum(1)
    if variant == "grpo":
        w = m / np.maximum(n, 1)[:, None] / weight.sum()
    elif variant == "dr_grpo":
        w = m / (weight.sum() * lmax)
    else:
        w = m / m.sum()
    return float((l * w).sum()), dl * w


@pytest.mark.parametrize("variant", losses.LOSS_VARIANTS)
@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_policy_loss_and_grad_match_numpy(variant, beta):
    new, old, ref, adv, mask, weight = _inputs()
    lmax = 9
    kw = dict(
        variant=variant,
        clip_eps_low=CLIP_LO,
        clip_eps_high=CLIP_HI,
        beta=beta,
        max_completion_len=lmax,
    )

    def f(new_):
        return losses.policy_loss(
            new_,
            jnp.asarray(old),
            jnp.asarray(adv),
            jnp.asarray(mask),
            jnp.asarray(weight),
            logp_ref_bt=jnp.asarray(ref),
            **kw,
        )

    loss, grad = jax.value_and_grad(f)(jnp.asarray(new))
    want_loss, want_grad = _numpy_loss_and_grad(
        new, old, ref, adv, mask, weight, variant, beta, lmax
    )
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-4, atol=1e-6)
    # Central finite differences on a few coordinates away from the clip kinks.
    r = np.exp(new - old)
    for i, j in [(0, 0), (1, 0), (2, 0)]:
        if abs(r[i, j] - (1 - CLIP_LO)) < 0.02 or abs(r[i, j] - (1 + CLIP_HI)) < 0.02:
            continue
        h = 1e-3
        e = np.zeros_like(new)
        e[i, j] = h
        fd = (
            _numpy_loss_and_grad(new + e, old, ref, adv, mask, weight, variant, beta, lmax)[0]
            - _numpy_loss_and_grad(new - e, old, ref, adv, mask, weight, variant, beta, lmax)[0]
        ) / (2 * h)
        np.testing.assert_allclose(float(grad[i, j]), fd, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("variant", losses.LOSS_VARIANTS)
def test_accumulation_over_microbatches_is_exact(variant):
    new, old, ref, adv, mask, weight = _inputs(seed=3, b=8)
    kw = dict(
        variant=variant,
        clip_eps_low=CLIP_LO,
        clip_eps_high=CLIP_HI,
        beta=0.05,
        max_completion_len=7,
    )
    args = [jnp.asarray(x) for x in (new, old, adv, mask, weight)]
    full = losses.policy_loss(*args, logp_ref_bt=jnp.asarray(ref), **kw)
    num = den = 0.0
    for sl in (slice(0, 3), slice(3, 8)):
        n, d, _ = losses.policy_loss_terms(
            *[x[sl] for x in args], logp_ref_bt=jnp.asarray(ref[sl]), **kw
        )
        num, den = num + n, den + d
    np.testing.assert_allclose(float(num / den), float(full), rtol=1e-6)


def test_group_advantages():
    r = np.array([1.0, 0.0, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2])
    adv, zero = losses.group_advantages(r, 4, "grpo", eps=0.0)
    g = r[:4]
    np.testing.assert_allclose(adv[:4], (g - g.mean()) / g.std(ddof=1), rtol=1e-6)
    np.testing.assert_array_equal(adv[4:], 0.0)
    np.testing.assert_array_equal(zero, [False, True])
    adv_dr, _ = losses.group_advantages(r, 4, "dr_grpo")
    np.testing.assert_allclose(adv_dr[:4], g - g.mean(), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown loss variant"):
        losses.group_advantages(r, 4, "grpo_typo")


def test_weight_negative_advantages():
    adv = np.array([1.5, -0.5, -1.0, 0.0], np.float32)
    np.testing.assert_array_equal(losses.weight_negative_advantages(adv, 1.0), adv)
    np.testing.assert_allclose(
        losses.weight_negative_advantages(adv, 0.25), [1.5, -0.125, -0.25, 0.0]
    )
    np.testing.assert_array_equal(losses.weight_negative_advantages(adv, 0.0), [1.5, 0, 0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        losses.weight_negative_advantages(adv, -1.0)


def test_kl_is_zero_at_reference_and_positive_elsewhere():
    x = jnp.linspace(-3, 0, 5)
    np.testing.assert_allclose(losses.k3_kl(x, x), 0.0, atol=1e-7)
    assert bool(jnp.all(losses.k3_kl(x, x + 0.3) > 0))


def test_sft_loss_terms():
    logp = jnp.array([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]])
    mask = jnp.array([[0, 1, 1], [1, 1, 0]])
    num, den = losses.sft_loss_terms(logp, mask)
    assert float(num) == pytest.approx(6.0) and float(den) == 4.0


@pytest.mark.parametrize("variant", losses.LOSS_VARIANTS)
def test_kl_at_padding_positions_cannot_poison_the_loss(variant):
    """Padding positions carry arbitrary log-probs: a reference log-prob far above the new
    one there (exp(200) overflows fp32) must not turn the loss or its gradient into NaN.
    The loss must equal the one with harmless values at those positions."""
    new, old, ref, adv, mask, weight = _inputs(seed=5)
    assert (mask == 0).any() and (weight == 0).any()
    ref_bad = np.where(mask * weight[:, None] > 0, ref, 200.0).astype(np.float32)
    new_bad = np.where(mask * weight[:, None] > 0, new, -200.0).astype(np.float32)
    kw = dict(variant=variant, clip_eps_low=CLIP_LO, clip_eps_high=CLIP_HI, beta=0.1)

    def f(new_, ref_):
        return losses.policy_loss(
            new_,
            jnp.asarray(old),
            jnp.asarray(adv),
            jnp.asarray(mask),
            jnp.asarray(weight),
            logp_ref_bt=jnp.asarray(ref_),
            max_completion_len=9,
            **kw,
        )

    loss_bad, grad_bad = jax.value_and_grad(f)(jnp.asarray(new_bad), ref_bad)
    loss, grad = jax.value_and_grad(f)(jnp.asarray(new), ref)
    assert np.isfinite(float(loss_bad)) and np.isfinite(np.asarray(grad_bad)).all()
    np.testing.assert_allclose(float(loss_bad), float(loss), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad_bad), np.asarray(grad), rtol=1e-6, atol=1e-9)


def test_old_logprobs_none_means_stopped_gradient_of_the_new_ones():
    """`logp_old_bt=None` (one update per batch): ratio exactly 1, nothing clipped, and the
    gradient is the plain policy gradient -A * d logp / n_b (NumPy, with old := new)."""
    new, _, ref, adv, mask, weight = _inputs(seed=6)
    kw = dict(variant="grpo", clip_eps_low=CLIP_LO, clip_eps_high=CLIP_HI, beta=0.1)
    args = [jnp.asarray(x) for x in (adv, mask, weight)]

    def f(new_):
        num, den, aux = losses.policy_loss_terms(
            new_, None, *args, logp_ref_bt=jnp.asarray(ref), max_completion_len=9, **kw
        )
        return num / den, aux

    (loss, aux), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(new))
    assert float(aux["ratio"]) == float(aux["tokens"]) and float(aux["clipped"]) == 0.0
    want_loss, want_grad = _numpy_loss_and_grad(new, new, ref, adv, mask, weight, "grpo", 0.1, 9)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-4, atol=1e-6)
