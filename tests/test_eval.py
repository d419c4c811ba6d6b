"""Eval table: per-game and summary rows with 95% CIs, written as md / csv / json / png."""

import csv
import dataclasses
import json
import math
import os

import pytest

from gamecwm_jax import eval as eval_lib


@dataclasses.dataclass
class R:
    score: float
    tiers: dict
    failure: object = None


def _records():
    recs = []
    for s in (0.2, 0.4, 0.6):
        recs.append(
            eval_lib.sample_record(
                "tic_tac_toe",
                "perfect",
                R(
                    s,
                    {
                        "static": 1.0,
                        "dynamics": s,
                        "semantics": 0.0,
                        "scenarios": s,
                        "information": None,
                    },
                ),
            )
        )
    for s in (0.0, 1.0):
        recs.append(
            eval_lib.sample_record(
                "kuhn_poker",
                "imperfect",
                R(
                    s,
                    {
                        "static": 1.0,
                        "dynamics": s,
                        "semantics": s,
                        "scenarios": None,
                        "information": s,
                    },
                ),
            )
        )
    return recs


def test_summary_rows_and_confidence_intervals():
    table = {r["row"]: r for r in eval_lib.summarize(_records())}
    assert list(table) == ["tic_tac_toe", "kuhn_poker", "all", "perfect", "imperfect"]
    ttt = table["tic_tac_toe"]
    assert ttt["reward"] == pytest.approx(0.4)
    assert ttt["reward_ci95"] == pytest.approx(1.96 * 0.2 / math.sqrt(3))
    assert (
        ttt["info"] == "perfect" and ttt["information_n"] == 0 and ttt["information_ci95"] is None
    )
    assert ttt["tier_mean"] == pytest.approx((1.0 + 0.4 + 0.0 + 0.4) / 4)  # tiers that apply only
    assert table["all"]["n"] == 5 and table["all"]["games"] == 2
    assert table["imperfect"]["info"] == "imperfect"
    assert table["imperfect"]["information_n"] == 2


def test_write_outputs(tmp_path):
    paths = eval_lib.write_outputs(str(tmp_path), _records(), {"title": "test"})
    for p in paths.values():
        assert os.path.getsize(p) > 0
    md = open(paths["md"]).read()
    assert "| **all** | all | 5 |" in md and "n/a" in md
    rows = list(csv.DictReader(open(paths["csv"])))
    assert [r["row"] for r in rows][-3:] == ["all", "perfect", "imperfect"]
    data = json.load(open(paths["json"]))
    assert len(data["samples"]) == 5 and data["meta"]["title"] == "test"
