"""GRPO, driven only by the reward, moves probability to the best program; the control does not.

The README's learning run (configs/small_cpu.py, `python -m gamecwm_jax.bench.learning`)
takes minutes a seed. This is the same command path shortened: `rl.run` does SFT on a menu,
then GRPO with the per-step exact probabilities, on a menu of four *short* programs (two
sites, each 50/50 after SFT): about a minute of CPU time (57 s user; 3 to 5.5 min of wall
time on the shared 2-core VM at load 8-15, most of it compiling). The verifier is replaced
by a table of scores keyed by the exact program text (anything else scores 0), so the reward
is known and the run is deterministic given the seed.
"""

import os

import numpy as np
import pytest

from gamecwm_jax import rl
from gamecwm_jax.train import menu as menu_lib
from gamecwm_jax.train.config import default_config
from gamecwm_jax.train.metrics import read_jsonl
from tests.train.fixtures import FakeReport, tiny_config

GOLDEN = "X = 1\nY = 2"
SCORES = {"golden": 1.0, "x": 0.4, "y": 0.3, "x+y": 0.2}


def _menu(spec, games):
    progs = []
    for name in SCORES:
        src = GOLDEN
        if "x" in name.split("+"):
            src = src.replace("X = 1", "X = 7")
        if "y" in name.split("+"):
            src = src.replace("Y = 2", "Y = 9")
        mutants = () if name == "golden" else tuple(name.split("+"))
        progs.append(menu_lib.MenuProgram("tic_tac_toe", mutants, f"```python\n{src}\n```"))
    return progs


class TableVerifier:
    """Scores a completion by the menu program it is, exactly; anything else scores 0."""

    def __init__(self):
        self.table = {p.completion: SCORES[p.name] for p in _menu("", [])}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def verify_batch(self, items, seed=0):
        return [
            FakeReport(s, {"static": s}) for s in (self.table.get(t.strip(), 0.0) for t, _ in items)
        ]


def _config(workdir, control):
    """small_cpu's model and adapters (a width-32 model does not memorise in time)."""
    c = tiny_config(workdir)
    c.model.tiny = default_config().model.tiny
    c.data.train_games = "tic_tac_toe"
    c.data.menu = "tic_tac_toe:synthetic"  # any spec; build_menu is replaced below
    c.sft.steps, c.sft.batch_size, c.sft.lr, c.sft.warmup_frac = 200, 4, 3e-3, 0.1
    c.sft.lora.update(dict(rank=32, alpha=512.0, targets="all"))
    c.rl.update(
        dict(
            steps=16,
            prompts_per_step=2,
            group_size=8,
            micro_batch_size=8,
            lr=1e-4,
            beta=0.0,
            temperature=0.6,
            max_new_tokens=32,
            control=control,
        )
    )
    c.rl.lora.update(dict(rank=8, alpha=128.0, targets="all"))
    c.checkpoint.every = 100
    c.log.tensorboard, c.log.plot_every = False, 0
    return c


@pytest.mark.slow
def test_grpo_raises_exact_golden_probability_and_control_does_not(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(menu_lib, "build_menu", _menu)
    monkeypatch.setattr(rl, "make_verifier", lambda config: TableVerifier())
    runs = {}
    for control in ("none", "shuffle"):
        d = str(tmp_path / control)
        if control != "none":  # the same SFT (same seed) as the run: paired, and half the time
            shutil.copytree(str(tmp_path / "none" / "base_model"), os.path.join(d, "base_model"))
            shutil.copytree(str(tmp_path / "none" / "sft"), os.path.join(d, "sft"))
        rl.run(_config(d, control))
        runs[control] = read_jsonl(os.path.join(d, "rl", "metrics.jsonl"))
    p = {k: np.array([r["menu/p_golden"] for r in rows]) for k, rows in runs.items()}
    start = p["none"][0]
    assert p["shuffle"][0] == pytest.approx(start)  # same starting policy
    # After SFT the golden is one of four near-equal programs, and most mass is on the menu.
    assert 0.1 < start < 0.45 and runs["none"][0]["menu/mass"] > 0.6, runs["none"][0]
    # lr 1e-4: a smooth, monotone rise (measured 0.24 -> 0.42 in 16 steps, the control flat
    # at 0.24). At 2e-4 and 4e-4 this run collapses off the menu once P(golden) nears 0.5
    # (mass 0.99 -> 0.1 in one step; README "Learning on a CPU"), so the test stays below.
    rise = np.diff(p["none"])
    assert np.all(rise > 0), p  # every GRPO step moved probability towards the golden
    assert p["none"][-1] - start >= 0.12, p
    assert abs(p["shuffle"][-1] - start) < 0.05, p
    assert p["none"][-1] - p["shuffle"][-1] >= 0.12, p
