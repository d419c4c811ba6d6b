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
