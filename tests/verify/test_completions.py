"""Model output that cannot run gets a clear, scored failure; stubs are penalised."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gamecwm_jax.games import get_game

REPO = Path(__file__).resolve().parents[2]
TTT = get_game("tic_tac_toe").golden_source


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("", "empty completion"),
        ("   \n\n", "empty completion"),
        ("I'm sorry, I cannot write this game. Tic-tac-toe is a game for two players.", "no code"),
        ("```python\n" + TTT[: len(TTT) // 2], "truncated code"),
        ("```python\ndef get_initial_state(:\n    return {}\n```", "syntax error"),
    ],
)
def test_unrunnable_output_scores_zero_with_a_reason(verifier, completion, expected):
    report = verifier.verify(completion, "tic_tac_toe")
    assert report.score == 0.0
    assert report.failure.tier == "static"
    assert expected in report.failure.message


def test_stubbed_function_is_penalised(verifier):
    code = TTT.replace(
        "def get_player_name(player: int) -> str:\n",
        "def get_player_name(player: int) -> str:\n    raise NotImplementedError\n\n\ndef _old(player):\n",
    )
    report = verifier.verify(code, "tic_tac_toe")
    assert report.details["stubs"] == ["get_player_name"]
    assert report.score <= 0.5


def test_static_only_program_earns_little(verifier):
    stub = "\n".join(
        f"def {name}({', '.join('ab'[:k])}):\n    return None\n"
        for name, k in [
            ("get_initial_state", 0),
            ("apply_action", 2),
            ("get_current_player", 1),
            ("get_player_name", 1),
            ("get_legal_actions", 1),
            ("get_chance_outcomes", 1),
            ("get_rewards", 1),
            ("get_observations", 1),
        ]
    )
    report = verifier.verify(stub, "tic_tac_toe")
    assert report.score < 0.1, report.to_json()


def _cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.verify", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def test_cli_json_and_exit_codes(tmp_path):
    path = tmp_path / "cand.txt"
    path.write_text(
        "```python\n" + TTT.replace("(0, 0), (1, 1), (2, 2)", "(0, 0), (1, 1), (2, 1)") + "\n```"
    )
    out = _cli(str(path), "--game", "tic_tac_toe", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert 0 < report["score"] < 1 and set(report["tiers"]) >= {"static", "dynamics", "semantics"}
    assert report["failure"]["actions"] is not None
    text = _cli(str(path), "--game", "tic_tac_toe")
    assert text.returncode == 0 and "score:" in text.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert _cli(str(empty), "--game", "tic_tac_toe").returncode == 0
    unknown = _cli(str(path), "--game", "tic_tac_to")
    assert unknown.returncode == 2 and "tic_tac_toe" in unknown.stderr
