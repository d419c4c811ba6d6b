"""The generate CLI on a tiny offline checkpoint."""

import json
import runpy
import sys

import jax
import jax.numpy as jnp
import pytest

from gamecwm_jax import generate
from gamecwm_jax.model import LoraConfig, init_lora, load_pretrained, save_lora, testing


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    return testing.make_tiny_qwen2(str(tmp_path_factory.mktemp("generate_ckpt")), tie=True, seed=4)


def test_json_output(ckpt, capsys):
    assert (
        generate.main(
            [
                "--model",
                ckpt,
                "--prompt",
                "hi",
                "--prompt",
                "write code",
                "--num-samples",
                "2",
                "--max-new-tokens",
                "8",
                "--seed",
                "1",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    rows = result["completions"]
    assert len(rows) == 4 and [r["prompt_index"] for r in rows] == [0, 0, 1, 1]
    for r in rows:
        assert 1 <= len(r["token_ids"]) == len(r["logprobs"]) <= 8
        assert all(lp <= 0 for lp in r["logprobs"])
        assert r["truncated"] == (r["token_ids"][-1] not in result["eos_ids"])


def test_greedy_with_lora_equals_the_merged_checkpoint(ckpt, tmp_path, capsys):
    """`--lora` with an adapter that changes the model (B != 0): the greedy tokens equal
    those of the checkpoint with the adapter merged in, saved and loaded like any other,
    and differ from the base model's."""
    from gamecwm_jax.model import load_tokenizer, merge_lora
    from gamecwm_jax.train.export import save_hf_checkpoint

    cfg, params = load_pretrained(ckpt, jnp.float32)
    lora_cfg = LoraConfig(rank=2, alpha=16.0, targets=("q", "up", "down"))
    lora = init_lora(jax.random.key(0), params, cfg, lora_cfg)
    lora = {
        t: {"a": ab["a"], "b": 0.5 * jax.random.normal(jax.random.key(i + 1), ab["b"].shape)}
        for i, (t, ab) in enumerate(lora.items())
    }
    save_lora(str(tmp_path / "adapter"), lora, lora_cfg)
    merged = save_hf_checkpoint(
        str(tmp_path / "merged"),
        cfg,
        merge_lora(params, lora, lora_cfg),
        tokenizer=load_tokenizer(ckpt),
        dtype="float32",
    )
    args = ["--prompt", "hello", "--greedy", "--max-new-tokens", "12", "--dtype", "float32"]

    def tokens(*extra):
        assert generate.main([*args, *extra, "--json"]) == 0
        return json.loads(capsys.readouterr().out)["completions"][0]["token_ids"]

    with_lora = tokens("--model", ckpt, "--lora", str(tmp_path / "adapter"))
    assert with_lora == tokens("--model", merged)
    assert with_lora != tokens("--model", ckpt)
    assert generate.main(["--model", ckpt, *args]) == 0
    assert "=== prompt 0 sample 0" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:.*found in sys.modules")
def test_module_entry_point(ckpt, capsys, monkeypatch):
    """`python -m gamecwm_jax.generate` (run in-process to reuse compiled code)."""
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "generate",
            "--model",
            ckpt,
            "--prompt",
            "x",
            "--max-new-tokens",
            "8",
            "--greedy",
            "--json",
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("gamecwm_jax.generate", run_name="__main__")
    assert exit_info.value.code == 0
    assert len(json.loads(capsys.readouterr().out)["completions"][0]["token_ids"]) <= 8


def test_bad_model_dir_is_a_clean_error(tmp_path, capsys):
    assert generate.main(["--model", str(tmp_path / "missing"), "--prompt", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
