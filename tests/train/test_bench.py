"""The GPU benchmark's code path (sampling, reference pass, chunked GRPO update) at toy shapes."""

from gamecwm_jax.bench import train as bench


def test_update_benchmark_runs_at_tiny_shapes():
    res = bench.bench_update(
        "tiny",
        group=2,
        prompt_len=16,
        new_tokens=16,
        micro=1,
        chunk=8,
        skip_sampling=True,
        tflops=1.0,
    )  # the sampler has its own tests
    assert res["trained_tokens"] == 32 and res["update_s (ref + grad + adamw)"] > 0
    assert 0 < res["mfu_update"] < 1
    assert res["train_model_tflop"] > 0


def test_flops_formula():
    from gamecwm_jax.model import preset

    cfg = preset("3b")
    per_token = bench.train_flops_per_token(cfg, 3_000_000_000, 8192)
    assert per_token == 6 * 3e9 + 12 * 36 * 2048 * 8192


def test_memory_only_estimate_at_tiny_shapes(tmp_path):
    """`--memory_only` compiles the whole update from shapes alone and reports its bytes."""
    import json

    out = tmp_path / "mem.json"
    argv = "--preset tiny --memory_only --group 2 --prompt_len 16 --new_tokens 16 --chunk 8"
    argv += f" --micro_batches 1,2 --attn_block 8 --json {out}"
    assert bench.main(argv.split()) == 0
    res = json.loads(out.read_text())
    rows = res["rows"]
    assert [(r["attn_block"], r["micro_batch"]) for r in rows] == [(8, 1), (8, 2), (0, 1), (0, 2)]
    for r in rows:
        g = r["step"]
        assert g["total"] == g["argument"] + g["output"] + g["temp"] - g["alias"] > 0
        assert r["step_estimate"] == g["total"]
        assert g["argument"] > res["weights_bytes"]  # weights + LoRA + AdamW state + batch
    by = {(r["attn_block"], r["micro_batch"]): r["step"]["temp"] for r in rows}
    assert by[(8, 2)] > by[(8, 1)] and by[(0, 2)] > by[(0, 1)]  # more rows in flight
    assert "not a GPU measurement" in res["note"]


def test_trl_side_by_side_gives_both_trainers_the_same_prompts(tmp_path):
    """`--against trl`: the prompts TRL is given are token for token the ones our loop
    builds from its own config, at the issue's length (~90 tokens: the chat template's
    default system line) unless `--system_prompt` asks for the project's (118-125)."""
    import ml_collections

    from gamecwm_jax import rl
    from gamecwm_jax.bench.trl_grpo import TrlShapes
    from gamecwm_jax.train import setup

    c = bench.against_trl_config(TrlShapes(), str(tmp_path))
    tokenizer = setup.load_tokenizer(
        setup.build_tiny_model(str(tmp_path / "m"), ml_collections.ConfigDict(c.model.tiny))
    )
    lengths = {}
    for system in (False, True):
        config = bench.against_trl_config(TrlShapes(system_prompt=system), str(tmp_path))
        games, theirs = bench.trl_prompts(tokenizer, config)
        _, ours = rl._schedule_and_prompts(config, tokenizer, games)
        assert [ours[g] for g in games] == theirs
        # TRL re-tokenizes the decoded text: it must come back as the same ids
        assert [tokenizer(tokenizer.decode(p), add_special_tokens=False)["input_ids"]
                for p in theirs] == theirs  # fmt: skip
        lengths[system] = [len(p) for p in theirs]
    assert all(80 <= n <= 100 for n in lengths[False]), lengths
    assert min(lengths[True]) > max(lengths[False]) + 20, lengths


def test_profile_variants_are_other_programs_with_the_same_gradients():
    """`--profile`'s autodiff variants must really swap the hand-written backwards (else
    its A/B compares a program with itself) and, being the same math, give the same
    LoRA gradients through a whole tiny fp32 model (theta 1e6, GQA, a padded row)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gamecwm_jax.model import LoraConfig, Qwen2Config, forward, init_lora, init_params

    cfg = Qwen2Config(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rope_theta=1e6,
    )  # fmt: skip
    params = init_params(jax.random.key(0), cfg, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=8.0)
    lora = jax.tree.map(lambda x: x + 0.05, init_lora(jax.random.key(1), params, cfg, lcfg))
    tokens = jax.random.randint(jax.random.key(2), (2, 9), 0, 64)
    mask = jnp.array([[1] * 9, [0] * 3 + [1] * 6])
    positions = jnp.maximum(jnp.cumsum(mask, 1) - 1, 0)

    def program():
        def loss(lora_):
            logits, _ = forward(params, cfg, tokens, positions, mask, lora=lora_, lora_cfg=lcfg)
            return jnp.sum(jax.nn.log_softmax(logits)[..., 1] * mask)

        fn = jax.jit(jax.grad(loss))
        return fn.lower(lora).as_text(), fn(lora)

    texts, grads = {}, {}
    for tag, autodiff in [*bench.AUTODIFF_VARIANTS.items(), ("again", (False, False))]:
        with bench._autodiff_backward(*autodiff):
            texts[tag], grads[tag] = program()
    assert len(set(texts.values())) == len(bench.AUTODIFF_VARIANTS)
    assert texts["again"] == texts[""]
    for tag, g in grads.items():
        for got, want in zip(jax.tree.leaves(g), jax.tree.leaves(grads["_autodiff_both"])):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
