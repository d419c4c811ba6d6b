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


def test_shared_prompts_equal_repeated_rows_in_values_and_gradients():
    """GRPO scores G completions of a prompt by running the prompt once into a KV cache
    (`shared_prompt_logprobs`); it must give what `[prompt | completion]` rows give: the
    same log-probs, entropies and LoRA gradient (left-padded prompts of two lengths,
    completions of three lengths, T != 1, theta 1e6, untied head)."""
    from gamecwm_jax.model import LoraConfig, Qwen2Config, init_lora, init_params
    from gamecwm_jax.train.logprobs import completion_logprobs, shared_prompt_logprobs

    cfg = Qwen2Config(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=False,
    )  # fmt: skip
    params = init_params(jax.random.PRNGKey(0), cfg, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=8.0, targets=("all",))
    lora = jax.tree.map(lambda x: x + 0.05, init_lora(jax.random.PRNGKey(1), params, cfg, lcfg))
    rng = np.random.default_rng(0)
    u, g, tp, c = 2, 3, 7, 5
    prompt_ut = rng.integers(0, 97, (u, tp))
    prompt_mask_ut = np.ones((u, tp), np.int32)
    prompt_mask_ut[0, :3] = 0
    comp_rc = rng.integers(0, 97, (u * g, c))
    comp_mask_rc = np.ones((u * g, c), np.int32)
    comp_mask_rc[1, 3:] = 0
    comp_mask_rc[4, 1:] = 0
    row_prompt = np.repeat(np.arange(u), g)
    rows_bt = np.concatenate([prompt_ut[row_prompt], comp_rc], 1)
    rows_mask_bt = np.concatenate([prompt_mask_ut[row_prompt], comp_mask_rc], 1)
    kw = dict(lora_cfg=lcfg, chunk=3, temperature=0.7)

    def repeated(lora_, with_entropy=False):
        return completion_logprobs(
            params, cfg, rows_bt, rows_mask_bt, tp, lora=lora_, with_entropy=with_entropy, **kw
        )

    def shared(lora_, with_entropy=False):
        return shared_prompt_logprobs(
            params, cfg, prompt_ut, prompt_mask_ut, row_prompt, comp_rc, comp_mask_rc,
            lora=lora_, with_entropy=with_entropy, **kw,
        )  # fmt: skip

    m = comp_mask_rc > 0
    for lo in (None, lora):
        (a, ea), (b, eb) = repeated(lo, True), shared(lo, True)
        np.testing.assert_allclose(np.asarray(a)[m], np.asarray(b)[m], atol=2e-6)
        np.testing.assert_allclose(np.asarray(ea)[m], np.asarray(eb)[m], atol=2e-6)
    total = lambda f: lambda lo: jnp.sum(f(lo)[0] * comp_mask_rc)
    ga, gb = jax.grad(total(repeated))(lora), jax.grad(total(shared))(lora)
    for x, y in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(ga)) > 1e-2  # not trivially 0
