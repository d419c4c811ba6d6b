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
