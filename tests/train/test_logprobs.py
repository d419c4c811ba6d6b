"""Chunked log-probs equal the naive full-logits computation, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.model import LoraConfig, Qwen2Config, forward, init_lora, init_params
from gamecwm_jax.train import logprobs

CFG = Qwen2Config(
    vocab_size=97,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    tie_word_embeddings=False,
)


@pytest.mark.parametrize("chunk", [3, 64])
def test_chunked_matches_full_logits(chunk):
    params = init_params(jax.random.PRNGKey(0), CFG, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=8.0, targets=("q", "v", "down"))
    lora = init_lora(jax.random.PRNGKey(1), params, CFG, lcfg)
    lora = jax.tree.map(lambda x: x + 0.05, lora)  # non-zero B so LoRA matters
    b, p, c = 3, 4, 6
    tokens = jax.random.randint(jax.random.PRNGKey(2), (b, p + c), 0, CFG.vocab_size)
    mask = jnp.ones((b, p + c), jnp.int32).at[0, :2].set(0).at[1, -2:].set(0)

    def chunked(lora_):
        lp, ent = logprobs.completion_logprobs(
            params,
            CFG,
            tokens,
            mask,
            p,
            lora=lora_,
            lora_cfg=lcfg,
            chunk=chunk,
            temperature=0.7,
            with_entropy=True,
        )
        return jnp.sum(lp * mask[:, p:]), (lp, ent)

    def naive(lora_):
        pos = logprobs.positions_from_mask(mask)
        logits, _ = forward(params, CFG, tokens, pos, mask, lora=lora_, lora_cfg=lcfg)
        logp = jax.nn.log_softmax(logits[:, p - 1 : -1] / 0.7, -1)
        lp = jnp.take_along_axis(logp, tokens[:, p:, None], -1)[..., 0]
        ent = -jnp.sum(jnp.exp(logp) * logp, -1)
        return jnp.sum(lp * mask[:, p:]), (lp, ent)

    (v1, (lp1, e1)), g1 = jax.jit(jax.value_and_grad(chunked, has_aux=True))(lora)
    (v2, (lp2, e2)), g2 = jax.jit(jax.value_and_grad(naive, has_aux=True))(lora)
    np.testing.assert_allclose(lp1, lp2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(e1, e2, rtol=1e-5, atol=1e-5)
    for a, b_ in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b_, rtol=1e-4, atol=1e-6)
