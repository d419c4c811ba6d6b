"""SFT: the completion-only loss goes down, the adapter is written, a rerun resumes / skips."""

import json
import os

from gamecwm_jax import sft
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.model import load_lora, load_tokenizer
from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train import setup
from gamecwm_jax.train.metrics import read_jsonl
from tests.train.fixtures import tiny_config, tiny_model_dir, workdir  # noqa: F401


def test_sft_examples_mask_only_the_completion(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    ex = data_lib.sft_examples(tok, ["tic_tac_toe"], 100_000, style="name")[0]
    assert ex.target[-1] == data_lib.eos_id(tok)
    assert tok.decode(ex.target).startswith("```python\n")
    tokens, mask = data_lib.pad_rows(
        [ex.prompt], [ex.target], len(ex.prompt) + 3, len(ex.target) + 5, data_lib.pad_id(tok)
    )
    p = len(ex.prompt) + 3
    assert mask[0, :3].sum() == 0 and mask[0, p:].sum() == len(ex.target)  # left / right padding


def test_sft_trains_writes_adapter_and_skips_when_done(workdir):
    c = tiny_config(workdir)
    c.sft.steps = 6
    c.checkpoint.every = 3
    cfg, params, tok, model_dir = setup.load_model(c)
    games = resolve_games(c.data.train_games)
    out = sft.run_sft(c, cfg, params, tok, games, model_dir)
    rows = read_jsonl(os.path.join(workdir, "sft", "metrics.jsonl"))
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert rows[-1]["loss"] < rows[0]["loss"]
    lora, lcfg = load_lora(out)
    assert lcfg.rank == 4 and set(lora) == {"q", "v"}
    assert json.load(open(os.path.join(workdir, "sft", "peft", "adapter_config.json")))["r"] == 4
    assert sorted(os.listdir(os.path.join(workdir, "sft", "checkpoints"))) == ["3", "6"]
    # A finished SFT is not redone (the second call returns at once).
    assert sft.run_sft(c, cfg, params, tok, games, model_dir) == out
    assert len(read_jsonl(os.path.join(workdir, "sft", "metrics.jsonl"))) == 6


def test_sft_killed_between_checkpoints_resumes_exactly(tmp_path, tiny_model_dir, monkeypatch):
    """Killed after step 4 (checkpoints at 3 and 6): the rerun restarts from 3, replays
    step 4, keeps one metrics row per step and ends on the uninterrupted run's adapter."""
    import shutil

    import numpy as np

    from gamecwm_jax.train.metrics import MetricsLogger
    from tests.test_rl import _strip, kill_after_step

    def run(name):
        d = str(tmp_path / name)
        if not os.path.isdir(d):
            shutil.copytree(tiny_model_dir, os.path.join(d, "base_model"))
        c = tiny_config(d)
        c.sft.steps, c.checkpoint.every = 6, 3
        cfg, params, tok, model_dir = setup.load_model(c)
        return sft.run_sft(c, cfg, params, tok, resolve_games(c.data.train_games), model_dir)

    straight = run("straight")
    kill_after_step(monkeypatch, MetricsLogger, 4, lambda: run("resumed"))
    rows = read_jsonl(str(tmp_path / "resumed" / "sft" / "metrics.jsonl"))
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    resumed = run("resumed")
    a = _strip(read_jsonl(str(tmp_path / "straight" / "sft" / "metrics.jsonl")))
    b = _strip(read_jsonl(str(tmp_path / "resumed" / "sft" / "metrics.jsonl")))
    assert [r["step"] for r in b] == list(range(1, 7)) and a == b
    la, _ = load_lora(straight)
    lb, _ = load_lora(resumed)
    for t in la:
        for m in ("a", "b"):
            np.testing.assert_array_equal(np.asarray(la[t][m]), np.asarray(lb[t][m]))
