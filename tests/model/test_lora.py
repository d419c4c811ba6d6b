"""LoRA: identity at init, merged == unmerged, save/load round trip, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.model import (
    LoraConfig,
    init_lora,
    load_lora,
    load_pretrained,
    merge_lora,
    save_lora,
)
from gamecwm_jax.model.lora import lora_module_count, resolve_targets
from gamecwm_jax.model.testing import jit_forward

forward = jit_forward()


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return load_pretrained(tiny_ckpt, dtype=jnp.float32)


def _batch():
    tokens = jnp.array([[5, 6, 7, 8, 9, 10], [0, 0, 3, 4, 5, 6]], jnp.int32)
    mask = jnp.array([[1] * 6, [0, 0, 1, 1, 1, 1]], jnp.int32)
    return tokens, jnp.maximum(jnp.cumsum(mask, 1) - 1, 0), mask


def _randomise_b(lora, seed=1):
    keys = iter(jax.random.split(jax.random.key(seed), len(lora)))
    return {
        t: {"a": ab["a"], "b": 0.1 * jax.random.normal(next(keys), ab["b"].shape)}
        for t, ab in lora.items()
    }


def test_zero_b_is_identity_and_base_untouched(model):
    cfg, params = model
    lora_cfg = LoraConfig(rank=4, alpha=8.0)
    lora = init_lora(jax.random.key(0), params, cfg, lora_cfg)
    assert lora_module_count(lora) == 7 * cfg.num_hidden_layers
    base, _ = forward(params, cfg, *_batch())
    adapted, _ = forward(params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg)
    np.testing.assert_array_equal(np.asarray(base), np.asarray(adapted))


@pytest.mark.parametrize("targets", [("q", "v"), ("all",), ("o", "gate_proj", "down")])
def test_merged_equals_unmerged(model, targets):
    cfg, params = model
    lora_cfg = LoraConfig(rank=4, alpha=16.0, targets=targets)
    lora = _randomise_b(init_lora(jax.random.key(0), params, cfg, lora_cfg))
    mask = _batch()[2] == 1
    unmerged, _ = forward(params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg)
    merged, _ = forward(merge_lora(params, lora, lora_cfg), cfg, *_batch())
    base, _ = forward(params, cfg, *_batch())
    np.testing.assert_allclose(np.asarray(unmerged)[mask], np.asarray(merged)[mask], atol=1e-4)
    assert float(jnp.max(jnp.abs(unmerged - base))) > 1e-2  # the adapter does something


def test_dropout_only_with_key(model):
    cfg, params = model
    lora_cfg = LoraConfig(rank=4, alpha=8.0, dropout=0.5, targets=("q",))
    lora = _randomise_b(init_lora(jax.random.key(0), params, cfg, lora_cfg))
    no_key_1, _ = forward(params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg)
    no_key_2, _ = forward(params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg)
    with_key, _ = forward(
        params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg, dropout_key=jax.random.key(3)
    )
    np.testing.assert_array_equal(np.asarray(no_key_1), np.asarray(no_key_2))
    assert float(jnp.max(jnp.abs(with_key - no_key_1))) > 1e-4


def test_grad_flows_only_to_lora(model):
    cfg, params = model
    lora_cfg = LoraConfig(rank=2, alpha=2.0, targets=("v", "up"))
    lora = init_lora(jax.random.key(0), params, cfg, lora_cfg)

    @jax.jit
    def loss(lora):
        logits, _ = forward(params, cfg, *_batch(), lora=lora, lora_cfg=lora_cfg)
        return jnp.mean(logits[..., 3])

    grads = jax.grad(loss)(lora)
    assert set(grads) == {"v", "up"}
    # With B = 0 only B receives gradient (dL/dA = x^T dL/dy B^T = 0).
    assert float(jnp.abs(grads["up"]["b"]).sum()) > 0
    assert float(jnp.abs(grads["up"]["a"]).sum()) == 0


def test_save_load_round_trip(model, tmp_path):
    cfg, params = model
    lora_cfg = LoraConfig(rank=3, alpha=6.0, dropout=0.1, targets=("k", "down"))
    lora = _randomise_b(init_lora(jax.random.key(0), params, cfg, lora_cfg))
    save_lora(str(tmp_path / "adapter"), lora, lora_cfg)
    lora2, lora_cfg2 = load_lora(str(tmp_path / "adapter"))
    assert lora_cfg2 == lora_cfg
    jax.tree.map(np.testing.assert_array_equal, lora, lora2)
    with pytest.raises(FileNotFoundError, match="adapter"):
        load_lora(str(tmp_path / "nope"))


def test_bad_targets():
    with pytest.raises(ValueError, match="matched no module"):
        LoraConfig(targets=("qkv_proj",))
    with pytest.raises(ValueError, match="matched no module"):
        LoraConfig(targets=("q", "attention*"))
    assert resolve_targets(("*_proj",)) == ("q", "k", "v", "o", "gate", "up", "down")
    assert resolve_targets(("mlp", "q_proj")) == ("q", "gate", "up", "down")
    assert resolve_targets(("[qv]",)) == ("q", "v")


@pytest.mark.parametrize(
    "dtype, lead, tol",
    [(jnp.float32, (3, 5), 1e-5), (jnp.bfloat16, (2, 3, 4), 2e-2), (jnp.float32, (7,), 1e-5)],
)
def test_low_rank_gradient_equals_autodiff_of_the_plain_formula(dtype, lead, tol):
    """`lora.low_rank`'s hand-written VJP against autodiff of (x @ A @ B) * scale, for a
    random cotangent, with the bf16 activations of the real recipe and more than one
    leading (token) axis: a wrong scale, a swapped factor or a missed axis shows here."""
    from gamecwm_jax.model.lora import low_rank

    kx, ka, kb, kc = jax.random.split(jax.random.key(0), 4)
    d_in, r, d_out, scale = 12, 4, 10, 2.5
    x = jax.random.normal(kx, (*lead, d_in)).astype(dtype)
    a = jax.random.normal(ka, (d_in, r)).astype(dtype)
    b = jax.random.normal(kb, (r, d_out)).astype(dtype)
    ct = jax.random.normal(kc, (*lead, d_out)).astype(dtype)
    f32 = lambda *t: [np.asarray(v, np.float32) for v in t]

    def plain(x, a, b):  # computed in fp32: the reference the bf16 result is held to
        x, a, b = (v.astype(jnp.float32) for v in (x, a, b))
        return jnp.einsum("...i,ir,ro->...o", x, a, b) * scale

    y, vjp = jax.vjp(lambda x, a, b: low_rank(x, a, b, scale), x, a, b)
    y_ref, vjp_ref = jax.vjp(plain, x, a, b)
    assert y.dtype == dtype
    for got, want in zip(f32(y, *vjp(ct)), f32(y_ref, *vjp_ref(ct.astype(jnp.float32)))):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_lora_delta_gradient_with_dropout_and_an_fp32_adapter_on_bf16():
    """`lora_delta` as the model calls it (fp32 A/B cast to bf16 activations, dropout):
    its adapter gradients equal autodiff through the same mask, in fp32 leaves."""
    from gamecwm_jax.model.lora import lora_delta

    kx, ka, kb, kc, kd = jax.random.split(jax.random.key(1), 5)
    x = jax.random.normal(kx, (2, 6, 16)).astype(jnp.bfloat16)
    ab = {"a": jax.random.normal(ka, (16, 4)), "b": jax.random.normal(kb, (4, 8))}
    ct = jax.random.normal(kc, (2, 6, 8))

    def plain(ab):
        keep = jax.random.bernoulli(kd, 0.7, x.shape)
        xd = jnp.where(keep, x.astype(jnp.float32) / 0.7, 0)
        return jnp.sum(ct * (xd @ ab["a"] @ ab["b"] * 2.0))

    got = jax.grad(lambda ab: jnp.sum(ct * lora_delta(x, ab, 2.0, 0.3, kd)))(ab)
    want = jax.grad(plain)(ab)
    for k in ("a", "b"):
        assert got[k].dtype == jnp.float32
        g, w = np.asarray(got[k]), np.asarray(want[k])
        np.testing.assert_allclose(g, w, atol=0.03 * np.abs(w).max())
