"""Parity of the JAX Qwen2 with transformers' PyTorch implementation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import Qwen2ForCausalLM

from gamecwm_jax.model import (
    PRESETS,
    Qwen2Config,
    count_params,
    forward,
    init_cache,
    init_params,
    lm_head,
    load_pretrained,
    param_shapes,
)
from gamecwm_jax.model.qwen2 import unstack_cache, unstack_layers
from gamecwm_jax.model.testing import jit_forward

fwd = jit_forward()


def _left_padded_batch(seed: int = 0):
    """3 rows of 12 slots: full, 5 pads, 11 pads (a 1-token prompt)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 259, (3, 12)).astype(np.int32)
    mask = np.ones((3, 12), np.int32)
    mask[1, :5] = 0
    mask[2, :11] = 0
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0).astype(np.int32)
    return tokens, positions, mask


def _torch_logits(ckpt: str, tokens, positions, mask) -> np.ndarray:
    model = Qwen2ForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(
            input_ids=torch.tensor(tokens, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            position_ids=torch.tensor(positions, dtype=torch.long),
        ).logits.numpy()


@pytest.mark.parametrize("attn_block", [512, 5], ids=["one_block", "query_blocks_of_5"])
def test_logits_match_transformers(any_ckpt, attn_block):
    cfg, params = load_pretrained(any_ckpt, dtype=jnp.float32)
    cfg = dataclasses.replace(cfg, attn_block=attn_block)  # 12 queries: 3 blocks, the last padded
    tokens, positions, mask = _left_padded_batch()
    ref = _torch_logits(any_ckpt, tokens, positions, mask)
    got, cache = fwd(params, cfg, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask))
    assert cache is None
    got = np.asarray(got)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got[mask == 1], ref[mask == 1], atol=1e-4, rtol=1e-4)
    assert np.isfinite(got).all()  # pad queries are finite garbage, not NaN


def test_hidden_plus_lm_head_equals_logits(tiny_ckpt_untied):
    cfg, params = load_pretrained(tiny_ckpt_untied, dtype=jnp.float32)
    tokens, positions, mask = _left_padded_batch(1)
    logits, _ = fwd(params, cfg, tokens, positions, mask)
    hidden, _ = fwd(params, cfg, tokens, positions, mask, return_hidden=True)
    assert hidden.shape == (3, 12, cfg.hidden_size)
    np.testing.assert_allclose(lm_head(params, cfg, hidden[:, 4:]), logits[:, 4:], atol=1e-6)


@pytest.mark.parametrize("unrolled_decode", [False, True])
def test_kv_cache_decode_matches_full_forward(tiny_ckpt_untied, unrolled_decode):
    """Prefill 7 slots, then feed the rest one token at a time through the cache;
    with `unrolled_decode` the steps run the unrolled layout, as the sampler does."""
    cfg, params = load_pretrained(tiny_ckpt_untied, dtype=jnp.float32)
    tokens, positions, mask = _left_padded_batch(2)
    full, _ = fwd(params, cfg, tokens, positions, mask)
    cache = init_cache(cfg, batch=3, max_len=16, dtype=jnp.float32)
    step = jax.jit(lambda p, t, pos, m, c: forward(p, cfg, t, pos, m, cache=c))
    pieces = []
    logits, cache = step(params, tokens[:, :7], positions[:, :7], mask[:, :7], cache)
    pieces.append(logits)
    if unrolled_decode:
        params, cache = unstack_layers(params), unstack_cache(cache)
        assert "layers" not in params and len(cache["k"]) == cfg.num_hidden_layers
    for i in range(7, 12):
        logits, cache = step(
            params,
            tokens[:, i : i + 1],
            positions[:, i : i + 1],
            mask[:, i : i + 1],
            cache,
        )
        pieces.append(logits)
    assert int(cache["index"]) == 12
    got = np.concatenate([np.asarray(x) for x in pieces], axis=1)
    np.testing.assert_allclose(got[mask == 1], np.asarray(full)[mask == 1], atol=1e-5, rtol=1e-5)


def test_unrolled_layout_same_logits_and_layout_mismatch(tiny_ckpt):
    cfg, params = load_pretrained(tiny_ckpt, dtype=jnp.float32)
    tokens, positions, mask = _left_padded_batch(4)
    stacked, _ = fwd(params, cfg, tokens, positions, mask)
    unrolled, _ = fwd(unstack_layers(params), cfg, tokens, positions, mask)
    np.testing.assert_allclose(unrolled, stacked, atol=1e-6)
    cache = unstack_cache(init_cache(cfg, batch=3, max_len=16, dtype=jnp.float32))
    with pytest.raises(ValueError, match="different layouts"):
        forward(params, cfg, tokens, positions, mask, cache=cache)


def test_remat_same_value_and_grad(tiny_ckpt):
    cfg, params = load_pretrained(tiny_ckpt, dtype=jnp.float32)
    tokens, positions, mask = _left_padded_batch(3)

    def loss(p, remat):
        logits, _ = forward(p, cfg, tokens, positions, mask, remat=remat)
        return jnp.mean(jax.nn.log_softmax(logits)[..., 0] * mask)

    grad_fn = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    (l0, g0), (l1, g1) = (grad_fn(params, r) for r in (False, True))
    np.testing.assert_allclose(l0, l1, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), g0, g1)


def test_query_blocked_attention_same_value_and_grad(tiny_ckpt_untied):
    """Blocks of 5 over 12 queries (the last block padded), with and without remat and
    through a KV-cache prefill, equal one block: logits and gradients."""
    cfg, params = load_pretrained(tiny_ckpt_untied, dtype=jnp.float32)
    plain, blocked = (dataclasses.replace(cfg, attn_block=b) for b in (0, 5))
    tokens, positions, mask = _left_padded_batch(5)

    def loss(p, cfg_, remat):
        logits, _ = forward(p, cfg_, tokens, positions, mask, remat=remat)
        return jnp.mean(jax.nn.log_softmax(logits)[..., 0] * mask), logits

    grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=(1, 2))
    (l0, logits0), g0 = grad_fn(params, plain, False)
    for remat in (False, True):
        (l1, logits1), g1 = grad_fn(params, blocked, remat)
        np.testing.assert_allclose(logits1, logits0, atol=1e-5, rtol=1e-5)  # pad rows too
        np.testing.assert_allclose(l1, l0, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), g1, g0)

    def prefill(cfg_):
        cache = init_cache(cfg_, batch=3, max_len=16, dtype=jnp.float32)
        return jax.jit(lambda p, c: forward(p, cfg_, tokens, positions, mask, cache=c))(
            params, cache
        )

    (logits_plain, cache_plain), (logits_blocked, cache_blocked) = map(prefill, (plain, blocked))
    np.testing.assert_allclose(logits_blocked, logits_plain, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(cache_blocked["k"], cache_plain["k"], atol=1e-6)


# bf16 bounds on the logits (their spread is ~0.7 here), measured on both tiny checkpoints:
# ours bf16 vs ours fp32 max 0.025 / mean 0.0053, ours bf16 vs transformers bf16 max 0.034 /
# mean 0.0055. The bounds are ~2.3x that; a model missing its last layer is off by max 2.0 /
# mean 0.43, a RoPE theta mix-up likewise (each asserted below or in the fp32 parity test).
BF16_MAX, BF16_MEAN = 0.08, 0.012


def _bf16_gap(a, b, mask) -> tuple[float, float]:
    d = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))[mask == 1]
    return float(d.max()), float(d.mean())


def test_bf16_forward_close_to_fp32_and_to_transformers_bf16(any_ckpt):
    cfg, p32 = load_pretrained(any_ckpt, dtype=jnp.float32)
    _, p16 = load_pretrained(any_ckpt, dtype=jnp.bfloat16)
    assert p16["layers"]["q_w"].dtype == jnp.bfloat16
    tokens, positions, mask = _left_padded_batch(4)
    l32, _ = fwd(p32, cfg, tokens, positions, mask)
    l16, _ = fwd(p16, cfg, tokens, positions, mask)
    assert l16.dtype == jnp.float32
    hf = Qwen2ForCausalLM.from_pretrained(any_ckpt, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        t16 = hf(
            input_ids=torch.tensor(tokens, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            position_ids=torch.tensor(positions, dtype=torch.long),
        ).logits.float()
    for other in (l32, t16.numpy()):
        gap_max, gap_mean = _bf16_gap(l16, other, mask)
        assert gap_max < BF16_MAX and gap_mean < BF16_MEAN, (gap_max, gap_mean)
    # The bounds can fail: the same model without its last layer is far outside them.
    short = dataclasses.replace(cfg, num_hidden_layers=cfg.num_hidden_layers - 1)
    cut = {**p16, "layers": jax.tree.map(lambda x: x[:-1], p16["layers"])}
    l_cut, _ = fwd(cut, short, tokens, positions, mask)
    gap_max, gap_mean = _bf16_gap(l_cut, l32, mask)
    assert gap_max > 10 * BF16_MAX and gap_mean > 10 * BF16_MEAN


def test_config_from_json_and_presets(tiny_ckpt):
    cfg = Qwen2Config.from_hf_json(tiny_ckpt)
    assert (cfg.hidden_size, cfg.num_key_value_heads, cfg.head_dim, cfg.rope_theta) == (
        64,
        2,
        16,
        1e6,
    )
    assert hash(cfg) == hash(Qwen2Config.from_hf_json(tiny_ckpt))
    assert PRESETS["3b"].head_dim == 128 and PRESETS["3b"].tie_word_embeddings
    assert not PRESETS["7b"].tie_word_embeddings
    shapes = jax.eval_shape(lambda: init_params(jax.random.key(0), PRESETS["3b"]))
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
    assert 3.0e9 < n < 3.2e9  # Qwen2.5-3B has 3.09B parameters


def test_init_params_shapes_and_count():
    cfg = Qwen2Config(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
    )
    params = init_params(jax.random.key(0), cfg, jnp.float32)
    assert jax.tree.map(lambda x: tuple(x.shape), params) == param_shapes(cfg)
    assert count_params(params) == sum(
        int(np.prod(s))
        for s in jax.tree.leaves(param_shapes(cfg), is_leaf=lambda x: isinstance(x, tuple))
    )


def test_from_hf_dict_transformers4_style_matches_preset():
    """The Qwen2.5-3B-Instruct config.json layout (transformers 4.x keys)."""
    d = {
        "architectures": ["Qwen2ForCausalLM"],
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "max_position_embeddings": 32768,
        "max_window_layers": 70,
        "model_type": "qwen2",
        "num_attention_heads": 16,
        "num_hidden_layers": 36,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_sliding_window": False,
        "vocab_size": 151936,
    }
    assert Qwen2Config.from_hf_dict(d) == PRESETS["3b"]
    with pytest.raises(NotImplementedError, match="yarn"):
        Qwen2Config.from_hf_dict({**d, "rope_scaling": {"type": "yarn", "factor": 4.0}})


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2)])
def test_grouped_attention_gradient_equals_autodiff_of_softmax_attention(dtype, tol):
    """`qwen2.grouped_attention`'s recomputing backward against autodiff of the plain
    softmax formula (computed in fp32), for a random cotangent: 2 query heads per KV head,
    more key slots than queries (a cache), padded keys and one query row that sees no key
    at all (a left-pad query: uniform probabilities, as in the forward). The forward is
    held to the plain formula bit for bit in fp32."""
    from gamecwm_jax.model.qwen2 import grouped_attention

    b, k, g, t, s, h = 2, 2, 2, 5, 7, 8
    kq, kk, kv, kc = jax.random.split(jax.random.key(0), 4)
    q = jax.random.normal(kq, (b, k, g, t, h)).astype(dtype)
    keys = jax.random.normal(kk, (b, k, s, h)).astype(dtype)
    vals = jax.random.normal(kv, (b, k, s, h)).astype(dtype)
    ct = jax.random.normal(kc, (b, k, g, t, h)).astype(dtype)
    causal = np.arange(s)[None, :] <= np.arange(t)[:, None] + (s - t)
    mask = np.broadcast_to(causal, (b, t, s)).copy()
    mask[1, :, :3] = False  # row 1's first 3 key slots are padding
    mask[1, 0, :] = False  # and its first query sees nothing
    mask = jnp.asarray(mask)

    def plain(q, keys, vals):
        q, keys, vals = (x.astype(jnp.float32) for x in (q, keys, vals))
        logits = jnp.einsum("bkgth,bksh->bkgts", q, keys) * h**-0.5
        probs = jax.nn.softmax(jnp.where(mask[:, None, None], logits, -1e30), axis=-1)
        return jnp.einsum("bkgts,bksh->bkgth", probs, vals)

    out, vjp = jax.vjp(lambda *a: grouped_attention(*a, mask), q, keys, vals)
    out_ref, vjp_ref = jax.vjp(plain, q, keys, vals)
    assert out.dtype == dtype
    if dtype == jnp.float32:
        np.testing.assert_array_equal(np.asarray(out), np.asarray(out_ref))
    f32 = lambda xs: [np.asarray(x, np.float32) for x in xs]
    for got, want in zip(f32([out, *vjp(ct)]), f32([out_ref, *vjp_ref(ct.astype(jnp.float32))])):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
