"""The OpenSpiel cross-check catches a golden that breaks a rule, and its CLI reports it."""

import shutil

import pytest

from gamecwm_jax.games import crosscheck as cc
from gamecwm_jax.games import games_dir


@pytest.fixture
def broken_tic_tac_toe(tmp_path, monkeypatch):
    """A copy of the dataset where tic-tac-toe forgets the anti-diagonal."""
    shutil.copytree(games_dir() / "tic_tac_toe", tmp_path / "tic_tac_toe")
    golden = tmp_path / "tic_tac_toe" / "golden.py"
    source = golden.read_text()
    assert ", [(0, 2), (1, 1), (2, 0)]" in source
    golden.write_text(source.replace(", [(0, 2), (1, 1), (2, 0)]", ""))
    monkeypatch.setenv("GAMECWM_GAMES_DIR", str(tmp_path))


def test_golden_agrees():
    result = cc.crosscheck("tic_tac_toe", trajectories=50)
    assert result.ok and result.steps > 50 * 5


def test_broken_rule_is_caught(broken_tic_tac_toe):
    result = cc.crosscheck("tic_tac_toe", trajectories=200)
    assert not result.ok
    first = result.mismatches[0]
    assert "current player" in first.what or "returns" in first.what
    assert first.actions  # the action history that reproduces it


def test_cli_exit_codes(broken_tic_tac_toe, capsys):
    assert cc.main(["--game", "tic_tac_toe", "--trajectories", "200"]) == 1
    assert "DISAGREE" in capsys.readouterr().out
    assert cc.main(["--game", "no_such_game", "--trajectories", "1"]) == 1
    assert "Unknown game" in capsys.readouterr().err
