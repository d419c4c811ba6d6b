"""The Flax modules: their variables are exactly `param_shapes`' layout, and
`Qwen2.apply` is `forward`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.model import (
    LoraConfig,
    Qwen2,
    Qwen2Config,
    forward,
    init_cache,
    init_lora,
    param_shapes,
)


def _cfg(tie: bool, layers: int = 3) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=1e4,
        tie_word_embeddings=tie,
    )


def _batch():
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 100, (2, 6)), jnp.int32)
    mask = jnp.ones((2, 6), jnp.int32).at[1, :2].set(0)
    return tokens, jnp.maximum(jnp.cumsum(mask, 1) - 1, 0), mask


@pytest.mark.parametrize("tie", [True, False])
def test_init_shapes_equal_param_shapes(tie):
    cfg = _cfg(tie)
    tokens, positions, mask = _batch()
    variables = jax.eval_shape(
        lambda: Qwen2(cfg, param_dtype=jnp.bfloat16).init(
            jax.random.key(0), tokens, positions, mask
        )
    )
    assert set(variables) == {"params"}
    assert jax.tree.map(lambda x: tuple(x.shape), variables["params"]) == param_shapes(cfg)
    assert {x.dtype for x in jax.tree.leaves(variables)} == {jnp.dtype(jnp.bfloat16)}


def test_init_values():
    """Ones for norm scales, N(0, 0.02) elsewhere, a different draw per layer."""
    params = Qwen2(_cfg(False)).init(jax.random.key(0), *_batch())["params"]
    for name in ("attn_norm", "mlp_norm"):
        np.testing.assert_array_equal(params["layers"][name], 1.0)
    np.testing.assert_array_equal(params["final_norm"], 1.0)
    for w in (params["embed"], params["lm_head"], params["layers"]["gate_w"]):
        assert abs(float(jnp.std(w)) - 0.02) < 0.002 and abs(float(jnp.mean(w))) < 0.002
    q_w = params["layers"]["q_w"]
    assert not np.allclose(q_w[0], q_w[1])


def test_apply_equals_forward_with_lora_and_cache():
    cfg = _cfg(False)
    tokens, positions, mask = _batch()
    params = Qwen2(cfg).init(jax.random.key(1), tokens, positions, mask)["params"]
    lora_cfg = LoraConfig(rank=2, alpha=4.0, dropout=0.1, targets=("q", "o", "up"))
    lora = init_lora(jax.random.key(2), params, cfg, lora_cfg)
    lora = jax.tree.map(lambda x: x + 0.05, lora)  # B = 0 would hide the adapter
    kw = dict(lora=lora, dropout_key=jax.random.key(3))
    model = Qwen2(cfg, lora_cfg=lora_cfg)
    got, _ = model.apply({"params": params}, tokens, positions, mask, **kw)
    want, _ = forward(params, cfg, tokens, positions, mask, lora_cfg=lora_cfg, **kw)
    np.testing.assert_array_equal(got, want)
    base, _ = forward(params, cfg, tokens, positions, mask)
    assert not np.allclose(base, want)  # the adapter (and its dropout) took effect

    cache = init_cache(cfg, 2, 8, jnp.float32)
    got, got_cache = model.apply(
        {"params": params}, tokens, positions, mask, lora=lora, cache=cache
    )
    want, want_cache = forward(
        params, cfg, tokens, positions, mask, lora=lora, lora_cfg=lora_cfg, cache=cache
    )
    np.testing.assert_array_equal(got, want)
    jax.tree.map(np.testing.assert_array_equal, got_cache, want_cache)
    assert int(got_cache["index"]) == 6


def test_layers_run_under_one_loop():
    """Depth adds no code: the decoder stack lowers to one while loop."""
    tokens, positions, mask = _batch()
    for layers in (1, 4):
        cfg = _cfg(True, layers)
        params = jax.eval_shape(
            lambda: Qwen2(cfg).init(jax.random.key(0), tokens, positions, mask)
        )["params"]
        text = jax.jit(lambda p: forward(p, cfg, tokens, positions, mask)).lower(params).as_text()
        assert text.count("stablehlo.while") == 1
