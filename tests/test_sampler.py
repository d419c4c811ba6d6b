"""Sampler: parity with transformers' greedy generate, reproducible log-probs,
early stopping, bucketing and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from gamecwm_jax import sampler as sampler_lib
from gamecwm_jax.model import (
    LoraConfig,
    init_lora,
    load_pretrained,
    load_tokenizer,
    merge_lora,
)
from gamecwm_jax.model import testing
from gamecwm_jax.sampler import Sampler, bucket_length, sample, sample_token

PROMPTS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [40, 41], [100, 101, 102, 103, 104]]
NO_EOS = (-1,)  # matches no token id: every row runs to max_new_tokens


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    return testing.make_tiny_qwen2(str(tmp_path_factory.mktemp("sampler_ckpt")), tie=False, seed=3)


@pytest.fixture(scope="module")
def model(ckpt):
    return load_pretrained(ckpt, dtype=jnp.float32)


def test_greedy_matches_transformers_generate(ckpt, model):
    from transformers import Qwen2ForCausalLM

    cfg, params = model
    n = 32
    out = sample(
        params,
        cfg,
        PROMPTS,
        key=jax.random.key(0),
        max_new_tokens=n,
        greedy=True,
        eos_ids=NO_EOS,
        pad_id=testing.PAD_ID,
    )
    assert out.tokens.shape == (3, n) and (out.lengths == n).all() and out.truncated.all()
    hf = Qwen2ForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    with torch.no_grad():
        ref = hf.generate(
            input_ids=torch.tensor(out.prompt_tokens, dtype=torch.long),
            attention_mask=torch.tensor(out.prompt_mask, dtype=torch.long),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=testing.PAD_ID,
            eos_token_id=None,
        )
    np.testing.assert_array_equal(out.tokens, ref[:, out.prompt_tokens.shape[1] :].numpy())


def _fresh_forward_logprobs(params, cfg, out, temperature):
    """Re-scores every row's prompt + completion in one teacher-forced pass."""
    seq = out.sequences()
    logits, _ = testing.jit_forward()(params, cfg, seq["tokens"], seq["positions"], seq["mask"])
    p, n = out.prompt_tokens.shape[1], out.tokens.shape[1]
    pred = np.asarray(logits)[:, p - 1 : p - 1 + n]  # logits that predicted each new token
    comp_mask = seq["completion_mask"][:, p:]
    assert (comp_mask.sum(1) == out.lengths).all()

    def gather(lg):
        return np.take_along_axis(
            np.asarray(jax.nn.log_softmax(lg, -1)), out.tokens[..., None], -1
        )[..., 0]

    return gather(pred / temperature) * comp_mask, gather(pred) * comp_mask


@pytest.mark.parametrize("top_k,top_p", [(0, 1.0), (20, 0.9)])
def test_logprobs_match_fresh_forward(model, top_k, top_p):
    cfg, params = model
    eos = tuple(range(0, 259, 16))  # ~1 in 16 tokens ends a row: mixes finished and truncated rows
    t = 0.7
    out = sample(
        params,
        cfg,
        PROMPTS,
        key=jax.random.key(1),
        num_samples=2,
        max_new_tokens=24,
        temperature=t,
        top_k=top_k,
        top_p=top_p,
        eos_ids=eos,
        pad_id=testing.PAD_ID,
    )
    assert out.tokens.shape == (6, 24)
    assert out.truncated.any() and not out.truncated.all()
    tempered, raw = _fresh_forward_logprobs(params, cfg, out, t)
    np.testing.assert_allclose(out.logprobs, tempered, atol=2e-4)
    np.testing.assert_allclose(out.logprobs_raw, raw, atol=2e-4)
    for r in range(6):
        n = out.lengths[r]
        assert (out.tokens[r, n:] == testing.PAD_ID).all() and (out.logprobs[r, n:] == 0).all()
        ended = out.tokens[r, n - 1] in eos
        assert ended != out.truncated[r]
        assert not np.isin(out.tokens[r, : n - 1], eos).any()


def test_stops_when_all_rows_hit_eos(model):
    cfg, params = model
    out = sample(
        params,
        cfg,
        PROMPTS,
        key=jax.random.key(0),
        num_samples=2,
        max_new_tokens=32,
        eos_ids=tuple(range(cfg.vocab_size)),
        pad_id=testing.PAD_ID,
    )
    assert (out.lengths == 1).all() and not out.truncated.any()
    assert (out.tokens[:, 1:] == testing.PAD_ID).all()


def test_keys(model):
    cfg, params = model
    kw = dict(num_samples=2, max_new_tokens=32, eos_ids=NO_EOS, pad_id=testing.PAD_ID)
    a = sample(params, cfg, PROMPTS, key=jax.random.key(5), **kw)
    b = sample(params, cfg, PROMPTS, key=jax.random.key(5), **kw)
    c = sample(params, cfg, PROMPTS, key=jax.random.key(6), **kw)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert (a.tokens != c.tokens).any()
    assert (a.tokens[0::2] != a.tokens[1::2]).any()  # the G samples of a prompt differ


def test_sample_token_top_p_keeps_at_least_one():
    logits = jnp.array([[0.0, 3.0, 1.0, 2.0]] * 4)
    tok, lp, raw = sample_token(
        logits, jax.random.key(0), jnp.float32(1.0), top_k=0, top_p=1e-6, greedy=False
    )
    np.testing.assert_array_equal(tok, [1, 1, 1, 1])
    np.testing.assert_allclose(lp, jax.nn.log_softmax(logits[0])[1], rtol=1e-6)
    tok, _, _ = sample_token(
        logits, jax.random.key(1), jnp.float32(1.0), top_k=2, top_p=1.0, greedy=False
    )
    assert set(np.asarray(tok).tolist()) <= {1, 3}
    for key in range(3):  # top_k=1 is greedy whatever the key
        tok, _, _ = sample_token(
            logits * jnp.arange(4.0),
            jax.random.key(key),
            jnp.float32(2.0),
            top_k=1,
            top_p=1.0,
            greedy=False,
        )
        np.testing.assert_array_equal(tok, [3, 3, 3, 3])


@pytest.mark.parametrize("vocab", [37, 300])  # 300: several blocks, the last one padded
def test_sampled_frequencies_match_softmax(vocab):
    """The two-level inverse-CDF draw is exact: empirical frequencies over many
    keys match softmax(logits / T) and zero-probability tokens never appear."""
    rng = np.random.RandomState(0)
    logits_v = rng.normal(0.0, 2.0, vocab).astype(np.float32)
    logits_v[rng.choice(vocab, vocab // 3, replace=False)] = -np.inf  # masked entries
    logits_v[-1] = -np.inf  # the padded block's neighbour
    rows, draws = 8, 2500
    draw = jax.jit(
        jax.vmap(
            lambda k: sample_token(
                jnp.broadcast_to(jnp.asarray(logits_v), (rows, vocab)),
                k,
                jnp.float32(1.5),
                top_k=0,
                top_p=1.0,
                greedy=False,
            )[0]
        )
    )
    tokens = np.asarray(draw(jax.random.split(jax.random.key(7), draws))).ravel()
    counts = np.bincount(tokens, minlength=vocab)
    probs = np.asarray(jax.nn.softmax(jnp.asarray(logits_v) / 1.5))
    assert counts[probs == 0].sum() == 0
    n = tokens.size
    # every count within 5 standard deviations of its binomial mean
    np.testing.assert_array_less(np.abs(counts - n * probs), 5 * np.sqrt(n * probs) + 1)


def test_lora_sampling_equals_merged(model):
    cfg, params = model
    lora_cfg = LoraConfig(rank=4, alpha=8.0, targets=("q", "v", "down"))
    lora = init_lora(jax.random.key(0), params, cfg, lora_cfg)
    lora = {
        t: {
            "a": ab["a"],
            "b": 0.2 * jax.random.normal(jax.random.key(i), ab["b"].shape),
        }
        for i, (t, ab) in enumerate(lora.items())
    }
    kw = dict(max_new_tokens=32, greedy=True, eos_ids=NO_EOS, pad_id=testing.PAD_ID)
    with_lora = sample(
        params, cfg, PROMPTS, key=jax.random.key(0), lora=lora, lora_cfg=lora_cfg, **kw
    )
    merged = sample(merge_lora(params, lora, lora_cfg), cfg, PROMPTS, key=jax.random.key(0), **kw)
    base = sample(params, cfg, PROMPTS, key=jax.random.key(0), **kw)
    np.testing.assert_array_equal(with_lora.tokens, merged.tokens)
    assert (with_lora.tokens != base.tokens).any()


def test_bucketing_limits_compiles(model):
    cfg, params = model
    kw = dict(key=jax.random.key(0), eos_ids=NO_EOS, pad_id=testing.PAD_ID, num_samples=2)
    sample(params, cfg, [[1] * 20], max_new_tokens=20, **kw)
    before = sampler_lib._decode._cache_size(), sampler_lib._prefill._cache_size()
    for plen, n in [(17, 25), (30, 32), (32, 17)]:  # same 32/32 buckets
        out = sample(params, cfg, [[1] * plen], max_new_tokens=n, **kw)
        assert out.tokens.shape == (2, n) and (out.lengths == n).all()
    assert (
        sampler_lib._decode._cache_size(),
        sampler_lib._prefill._cache_size(),
    ) == before
    assert [bucket_length(n) for n in (1, 16, 17, 100, 1024, 1025)] == [
        16,
        16,
        32,
        128,
        1024,
        2048,
    ]


def test_errors(model):
    cfg, params = model
    kw = dict(key=jax.random.key(0), eos_ids=NO_EOS, pad_id=0)
    with pytest.raises(ValueError, match="exceeds the sequence limit"):
        sample(params, cfg, [[1] * 500], max_new_tokens=20, **kw)  # max_position_embeddings=512
    with pytest.raises(ValueError, match="exceeds the sequence limit"):
        sample(params, cfg, [[1] * 10], max_new_tokens=10, max_seq_len=16, **kw)
    with pytest.raises(ValueError, match="at least one token"):
        sample(params, cfg, [[1, 2], []], max_new_tokens=4, **kw)
    with pytest.raises(ValueError, match="temperature"):
        sample(params, cfg, [[1, 2]], max_new_tokens=4, temperature=0.0, **kw)


def test_sampler_class_text_round_trip(ckpt, model):
    cfg, params = model
    tok = load_tokenizer(ckpt)
    s = Sampler(cfg, tok)
    assert testing.EOS_ID in s.eos_ids and s.pad_id == testing.PAD_ID
    out = s(
        params,
        ["hello", "a longer prompt", "x"],
        key=jax.random.key(0),
        num_samples=2,
        max_new_tokens=20,
        temperature=1.0,
    )
    texts = s.decode(out)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    assert out.prompt_mask[0].sum() == len("hello")  # byte-level tiny tokenizer


def test_benchmark_runs_at_tiny_shapes():
    from gamecwm_jax.bench import sampler as bench

    result = bench.main(
        [
            "--preset",
            "tiny",
            "--batch",
            "2",
            "--prompt-len",
            "8",
            "--new-tokens",
            "4",
            "--runs",
            "1",
            "--no-compare-hf",
            "--bandwidth-gbs",
            "10",
            "--json",
        ]
    )
    row = result["rows"][0]
    assert row["impl"] == "gamecwm_jax" and row["tokens_per_s"] > 0
    assert not row["roofline_fraction"] <= 0  # positive, or NaN when timing noise swamps decode
    assert result["decode_bytes_per_step"] > 0


def test_benchmark_memory_only_at_tiny_shapes():
    """Compiles from shapes; the decode program reuses the donated cache in place."""
    from gamecwm_jax.bench import sampler as bench

    argv = "--preset tiny --batch 2 --prompt-len 8 --new-tokens 4 --memory-only --json"
    result = bench.main(argv.split())
    prefill, decode = result["gib"]["prefill"], result["gib"]["decode"]
    assert prefill["argument"] > 0 and decode["argument"] > prefill["argument"]  # + the cache
    assert decode["alias"] > 0  # the donated KV cache is updated in place, not copied


def _numpy_filtered_probs(logits_v: np.ndarray, t: float, top_k: int, top_p: float) -> np.ndarray:
    """The distribution top-k / top-p sampling at temperature t draws from, in float64:
    softmax(logits / t), keep the k most likely, then the smallest most-likely-first prefix
    whose mass (of the tempered, top-k renormalised distribution) reaches p, renormalise."""
    z = logits_v.astype(np.float64) / t
    p = np.exp(z - z[np.isfinite(z)].max())
    p[~np.isfinite(z)] = 0.0
    order = np.argsort(-p, kind="stable")
    keep = np.zeros_like(p, bool)
    keep[order[:top_k] if top_k else order] = True
    p = np.where(keep, p, 0.0)
    p /= p.sum()
    if top_p < 1.0:
        mass, chosen = 0.0, np.zeros_like(keep)
        for i in order:
            if mass >= top_p or p[i] == 0.0:
                break
            chosen[i], mass = True, mass + p[i]
        p = np.where(chosen, p, 0.0)
        p /= p.sum()
    return p


@pytest.mark.parametrize(
    "t,top_k,top_p", [(0.6, 0, 0.8), (1.7, 0, 0.6), (0.6, 12, 0.9), (1.7, 8, 1.0)]
)
def test_top_k_top_p_frequencies_at_temperature(t, top_k, top_p):
    """At T != 1 the truncation must act on the tempered distribution: empirical token
    frequencies match an independent NumPy filter, and filtered-out tokens never appear."""
    rng = np.random.RandomState(1)
    vocab = 40
    logits_v = rng.normal(0.0, 1.5, vocab).astype(np.float32)
    want = _numpy_filtered_probs(logits_v, t, top_k, top_p)
    rows, draws = 8, 2500
    draw = jax.jit(
        jax.vmap(
            lambda k: sample_token(
                jnp.broadcast_to(jnp.asarray(logits_v), (rows, vocab)),
                k,
                jnp.float32(t),
                top_k=top_k,
                top_p=top_p,
                greedy=False,
            )[0]
        )
    )
    tokens = np.asarray(draw(jax.random.split(jax.random.key(11), draws))).ravel()
    counts = np.bincount(tokens, minlength=vocab)
    assert counts[want == 0].sum() == 0, np.flatnonzero(counts * (want == 0))
    n = tokens.size
    np.testing.assert_array_less(np.abs(counts - n * want), 5 * np.sqrt(n * want) + 1)
