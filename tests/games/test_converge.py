"""Rule-by-rule checks of Converge (the seed's start squares, orthogonal steps, stuns, 40 turns).

Converge has no OpenSpiel counterpart, so the legal moves are re-derived here from the visible
position alone and the scripted lines are checked against the rule text.
"""

from __future__ import annotations

import random

import pytest

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import replay

CENTRE = (2, 2)


@pytest.fixture(scope="module")
def golden():
    return get_game("converge").load_golden()


def _squares(obs: dict, mark: str) -> list[tuple[int, int]]:
    return [(r, c) for r, row in enumerate(obs["board"]) for c, ch in enumerate(row) if ch == mark]


def _parse(action: str) -> tuple[tuple[int, int], tuple[int, int]]:
    return (int(action[2]), int(action[4])), (int(action[9]), int(action[11]))


def _expected_moves(obs: dict, mark: str) -> set[str]:
    """Moves derived from the observation alone: orthogonal steps of unstunned pieces."""
    occupied = set(_squares(obs, "x") + _squares(obs, "o"))
    stunned = {tuple(sq) for sq in obs["stunned"]}
    moves = set()
    for r, c in _squares(obs, mark):
        if (r, c) in stunned:
            continue
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < 5 and 0 <= c2 < 5 and (r2, c2) not in occupied:
                moves.add(f"{mark}({r},{c})->({r2},{c2})")
    return moves


def test_random_play_invariants(golden):
    rng = random.Random(0)
    outcomes = {"x": 0, "o": 0, "draw": 0}
    passes = 0
    for _ in range(400):
        state = golden.get_initial_state()
        while golden.get_current_player(state) != TERMINAL:
            player = golden.get_current_player(state)
            mark = "xo"[player]
            obs = golden.get_observations(state)[0]
            legal = golden.get_legal_actions(state)
            # legal moves follow from the visible position; pass only when nothing else
            expected = _expected_moves(obs, mark)
            assert set(legal) == (expected or {"pass"})
            action = rng.choice(legal)
            state = golden.apply_action(state, action)
            new = golden.get_observations(state)[0]
            assert new["turns"] == obs["turns"] + 1
            assert len(_squares(new, "x")) == 2 and len(_squares(new, "o")) == 2
            if action == "pass":
                passes += 1
                assert new["board"] == obs["board"] and new["stunned"] == []
                continue
            _, dst = _parse(action)
            if golden.get_current_player(state) == TERMINAL:
                continue
            # the opponent's stunned pieces are exactly those around the landing square
            enemy = "ox"[player]
            around = sorted(
                [r, c]
                for r, c in _squares(new, enemy)
                if max(abs(r - dst[0]), abs(c - dst[1])) == 1
            )
            assert new["stunned"] == around
            assert new["board"][2][2] == "."  # nobody stands on the centre during play
        rewards = golden.get_rewards(state)
        obs = golden.get_observations(state)[0]
        if obs["board"][2][2] == "x":
            assert rewards == [1.0, -1.0]
            outcomes["x"] += 1
        elif obs["board"][2][2] == "o":
            assert rewards == [-1.0, 1.0]
            outcomes["o"] += 1
        else:
            assert obs["turns"] == 40 and rewards == [0.0, 0.0]
            outcomes["draw"] += 1
        assert obs["stunned"] == [] and obs["to_move"] == TERMINAL
    assert all(outcomes.values()), outcomes  # every kind of ending happens
    assert passes > 0


def test_start_squares_are_the_seeds(golden):
    obs = golden.get_observations(golden.get_initial_state())[0]
    assert _squares(obs, "x") == [(0, 0), (0, 4)]  # the top corners
    assert _squares(obs, "o") == [(4, 0), (4, 4)]  # the bottom corners
    assert obs["to_move"] == 0 and obs["turns"] == 0 and obs["stunned"] == []


def test_winner_is_the_player_who_steps_on_the_centre(golden):
    state = golden.get_initial_state()
    for a in [
        "x(0,0)->(1,0)",
        "o(4,0)->(4,1)",
        "x(1,0)->(2,0)",
        "o(4,1)->(4,2)",
        "x(2,0)->(2,1)",
        "o(4,4)->(4,3)",
    ]:
        state = golden.apply_action(state, a)
    assert "x(2,1)->(2,2)" in golden.get_legal_actions(state)
    end = golden.apply_action(state, "x(2,1)->(2,2)")
    assert golden.get_current_player(end) == TERMINAL
    assert golden.get_rewards(end) == [1.0, -1.0]
    assert golden.get_legal_actions(end) == []


def test_stun_blocks_exactly_one_turn(golden):
    states = replay(golden, ["x(0,0)->(1,0)", "o(4,0)->(3,0)", "x(1,0)->(2,0)"])
    stunned = states[-1]
    assert golden.get_observations(stunned)[1]["stunned"] == [[3, 0]]
    assert not any(a.startswith("o(3,0)") for a in golden.get_legal_actions(stunned))
    # o moves its other piece, x moves elsewhere: the stun is over although x still stands
    # next to the piece
    after = golden.apply_action(golden.apply_action(stunned, "o(4,4)->(4,3)"), "x(0,4)->(0,3)")
    assert "o(3,0)->(3,1)" in golden.get_legal_actions(after)
    # but x landing next to it again (diagonally) stuns it again
    again = golden.apply_action(golden.apply_action(stunned, "o(4,4)->(4,3)"), "x(2,0)->(2,1)")
    assert golden.get_observations(again)[1]["stunned"] == [[3, 0]]


def test_pass_when_both_pieces_are_stunned(golden):
    actions = [
        "x(0,4)->(0,3)",
        "o(4,0)->(3,0)",
        "x(0,3)->(0,2)",
        "o(3,0)->(2,0)",
        "x(0,2)->(0,1)",
        "o(2,0)->(1,0)",  # lands next to both x pieces, (0,0) and (0,1)
    ]
    state = replay(golden, actions)[-1]
    assert golden.get_legal_actions(state) == ["pass"]
    after = golden.apply_action(state, "pass")
    assert golden.get_current_player(after) == 1
    assert golden.get_observations(after)[0]["stunned"] == []
    with pytest.raises(ValueError):
        golden.apply_action(after, "pass")  # o has moves, so it may not pass


def test_illegal_actions_raise(golden):
    state = golden.get_initial_state()
    for bad in [
        "x(0,0)->(1,1)",
        "x(0,0)->(0,2)",
        "o(4,0)->(3,0)",
        "x(4,4)->(3,4)",
        "pass",
        "x(2,2)->(2,3)",
        "",
        "x(0,0)",
    ]:
        with pytest.raises(ValueError):
            golden.apply_action(state, bad)


def test_draw_at_the_turn_limit(golden):
    # shuffle pieces back and forth far from the centre and from each other
    loop = ["x(0,0)->(0,1)", "o(4,0)->(4,1)", "x(0,1)->(0,0)", "o(4,1)->(4,0)"]
    state = golden.get_initial_state()
    for t in range(40):
        assert golden.get_current_player(state) == t % 2
        state = golden.apply_action(state, loop[t % 4])
    assert golden.get_current_player(state) == TERMINAL
    assert golden.get_rewards(state) == [0.0, 0.0]
    assert golden.get_observations(state)[0]["turns"] == 40


def test_apply_action_is_pure(golden):
    state = golden.get_initial_state()
    snapshot = repr(state)
    golden.apply_action(state, "x(0,0)->(1,0)")
    assert repr(state) == snapshot
