"""The arena: a candidate GameCWM + MCTS plays the true game (small budgets, < 60 s)."""

import time

import pytest

from gamecwm_jax.arena import play_matches
from gamecwm_jax.games import get_game
from gamecwm_jax.games.play import observation_history
from gamecwm_jax.verify import mcts
from gamecwm_jax.verify.mutants import apply_mutant, load_mutants
from gamecwm_jax.verify.sandbox import SandboxPool

TTT = get_game("tic_tac_toe").golden_source
KUHN = get_game("kuhn_poker").golden_source


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2) as p:
        yield p


def _play(pool, source, game="tic_tac_toe", **kw):
    kw = {"opponent": "random", "matches": 4, "simulations": 30, "seed": 0, **kw}
    return play_matches(source, game, pool=pool, progress=False, **kw)


def test_mcts_takes_an_immediate_win():
    golden = get_game("tic_tac_toe").load_golden()
    # x has (0,0) and (0,1); o has (1,0) and (1,1): x to move wins with (0,2)
    actions = ["x(0,0)", "o(1,0)", "x(0,1)", "o(1,1)"]
    out = mcts.plan_move(golden, 2, 0, 100, "t", actions=actions)
    assert out["action"] == "x(0,2)"


def test_golden_candidate_beats_random_in_both_seats(pool):
    result = _play(pool, TTT, matches=8, simulations=100)
    assert result.moves["ok"] == result.candidate_moves > 0 and result.forfeits == 0
    for seat in result.seats:
        assert seat.matches == 4
        assert seat.wins >= 3 and seat.losses == 0, seat.to_json()
    assert result.mean_return > 0.5 and result.problem is None


def test_illegal_moves_are_forfeited_and_counted(pool):
    # a consistent model whose action strings the true game does not have ("x[1,1]")
    source = TTT.replace('f"{mark}({r},{c})"', 'f"{mark}[{r},{c}]"')
    assert source != TTT
    result = _play(pool, source)
    # its first move of a game is illegal; later ones fail already when it replays the
    # true history ("x(0,0)" is not an action of this model)
    assert result.moves["ok"] == 0 and result.illegal_moves >= 2
    assert result.illegal_moves + result.moves["error"] == result.candidate_moves
    assert result.matches == 4 and any("illegal action 'x[" in f for f in result.failures)


def test_mutant_is_contained(pool):
    mutant = next(m for m in load_mutants("tic_tac_toe") if m["name"] == "occupied_cells_legal")
    result = _play(pool, apply_mutant(TTT, mutant))
    assert result.matches == 4
    assert result.moves["ok"] + result.illegal_moves == result.candidate_moves
    assert result.moves["error"] == result.moves["timeout"] == 0


def test_crashing_candidates_are_counted(pool):
    crash = TTT + "\n\ndef apply_action(state, action):\n    raise RuntimeError('boom')\n"
    result = _play(pool, crash)
    assert result.moves["error"] == result.candidate_moves > 0
    assert any("boom" in f for f in result.failures)
    # a program that cannot run: nothing reaches the sandbox, every move is forfeited
    for source, problem in (
        ("def get_initial_state(:\n    return 1\n\n", "syntax error"),
        ("import os\nos.system('true')\n" + TTT, "does not load"),
        ("def get_initial_state():\n    return {}\n", "incomplete API"),
    ):
        result = _play(pool, source, matches=2)
        assert result.moves["error"] == result.candidate_moves > 0
        assert problem in result.problem


def test_forged_frames_are_errors(pool):
    # the candidate writes its own frames on the sandbox pipe before the harness does
    forge = """
import json, os, struct

def _frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data

for _fd in range(3, 32):
    try:
        os.write(_fd, _frame({"ok": True, "probe": "junk"}) + _frame({"action": ["x"]}))
    except OSError:
        pass
"""
    result = _play(pool, forge + TTT, matches=2)
    assert result.moves["error"] == result.candidate_moves > 0
    assert any("malformed answer" in f for f in result.failures)


def test_hanging_candidate_times_out(pool):
    hang = TTT + "\n\ndef apply_action(state, action):\n    while True:\n        pass\n"
    start = time.monotonic()
    result = _play(pool, hang, matches=2, move_timeout_s=0.5, give_up_after=2)
    assert time.monotonic() - start < 15
    assert result.moves["timeout"] == result.candidate_moves > 0
    assert result.matches == 2


def test_ismcts_on_kuhn_poker(pool):
    # the sandboxed planner gets the player's obs_action_history and samples worlds with
    # the candidate's resample_history
    result = _play(pool, KUHN, game="kuhn_poker", matches=6, simulations=50)
    assert result.moves["ok"] == result.candidate_moves > 0
    assert result.matches == 6 and result.problem is None
    golden = get_game("kuhn_poker").load_golden()
    history = observation_history(golden, ["K", "J", "pass", "bet"], 0)
    out = mcts.plan_move(golden, 2, 0, 200, "k", history=history)
    assert out["action"] == "bet"  # K calls: never worse than folding
    broken = KUHN + "\n\ndef resample_history(history, player):\n    return []\n"
    result = _play(pool, broken, game="kuhn_poker", matches=2)
    assert result.moves["error"] == result.candidate_moves > 0


def test_deterministic_given_seed(pool):
    kw = {"opponent": "golden_mcts", "matches": 4, "simulations": 20, "seed": 3}
    a, b = _play(pool, TTT, **kw).to_json(), _play(pool, TTT, workers=1, **kw).to_json()
    a.pop("timings"), b.pop("timings")
    assert a == b
    c = _play(pool, KUHN, game="kuhn_poker", **kw).to_json()
    d = _play(pool, KUHN, game="kuhn_poker", **kw).to_json()
    c.pop("timings"), d.pop("timings")
    assert c == d
