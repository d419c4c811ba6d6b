"""Rule-by-rule checks of Converge, the seed's game exactly (8-way steps, stuns, 50 turns).

Converge has no OpenSpiel counterpart, so the legal moves are re-derived here from the visible
position alone and the scripted lines are checked against the rule text.
"""

from __future__ import annotations

import itertools
import random

import pytest

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import replay

CENTRE = (2, 2)
MAX_TURNS = 50
# all eight one-square steps, written independently of the golden's STEPS table
STEPS = [(dr, dc) for dr, dc in itertools.product((-1, 0, 1), repeat=2) if (dr, dc) != (0, 0)]


@pytest.fixture(scope="module")
def golden():
    return get_game("converge").load_golden()


def _squares(obs: dict, mark: str) -> list[tuple[int, int]]:
    return [(r, c) for r, row in enumerate(obs["board"]) for c, ch in enumerate(row) if ch == mark]


def _parse(action: str) -> tuple[tuple[int, int], tuple[int, int]]:
    return (int(action[2]), int(action[4])), (int(action[9]), int(action[11]))


def _expected_moves(obs: dict, mark: str) -> set[str]:
    """Moves derived from the observation alone: 8-way steps of unstunned pieces."""
    occupied = set(_squares(obs, "x") + _squares(obs, "o"))
    stunned = {tuple(sq) for sq in obs["stunned"]}
    moves = set()
    for r, c in _squares(obs, mark):
        if (r, c) in stunned:
            continue
        for dr, dc in STEPS:
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < 5 and 0 <= c2 < 5 and (r2, c2) not in occupied:
                moves.add(f"{mark}({r},{c})->({r2},{c2})")
    return moves


def test_random_play_invariants(golden):
    rng = random.Random(0)
    outcomes = {"x": 0, "o": 0, "draw": 0}
    passes = diagonal_moves = diagonal_stuns = 0
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
            assert legal == sorted(legal)  # the seed lists legal moves string-sorted
            action = rng.choice(legal)
            state = golden.apply_action(state, action)
            new = golden.get_observations(state)[0]
            assert new["turns"] == obs["turns"] + 1
            assert len(_squares(new, "x")) == 2 and len(_squares(new, "o")) == 2
            if action == "pass":
                passes += 1
                assert new["board"] == obs["board"] and new["stunned"] == []
                continue
            src, dst = _parse(action)
            diagonal_moves += abs(src[0] - dst[0]) == abs(src[1] - dst[1]) == 1
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
            diagonal_stuns += any(abs(r - dst[0]) == abs(c - dst[1]) == 1 for r, c in around)
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
            assert obs["turns"] == MAX_TURNS and rewards == [0.0, 0.0]
            outcomes["draw"] += 1
        assert obs["stunned"] == [] and obs["to_move"] == TERMINAL
        assert obs["turns"] <= MAX_TURNS
    assert all(outcomes.values()), outcomes  # every kind of ending happens
    assert passes > 0
    assert diagonal_moves > 0 and diagonal_stuns > 0


def test_start_squares_are_the_seeds(golden):
    state = golden.get_initial_state()
    obs = golden.get_observations(state)[0]
    assert _squares(obs, "x") == [(0, 0), (0, 4)]  # the top corners
    assert _squares(obs, "o") == [(4, 0), (4, 4)]  # the bottom corners
    assert obs["to_move"] == 0 and obs["turns"] == 0 and obs["stunned"] == []
    # each corner piece has three steps, the diagonal one included, listed in string order
    assert golden.get_legal_actions(state) == [
        "x(0,0)->(0,1)",
        "x(0,0)->(1,0)",
        "x(0,0)->(1,1)",
        "x(0,4)->(0,3)",
        "x(0,4)->(1,3)",
        "x(0,4)->(1,4)",
    ]


def test_a_piece_in_the_open_has_eight_steps(golden):
    state = replay(golden, ["x(0,0)->(1,0)", "o(4,0)->(4,1)", "x(1,0)->(1,1)", "o(4,1)->(4,0)"])[-1]
    steps = {_parse(a)[1] for a in golden.get_legal_actions(state) if a.startswith("x(1,1)")}
    assert steps == {(1 + dr, 1 + dc) for dr, dc in STEPS}


def test_x_wins_by_force_in_three_plies(golden):
    """The seed's forced win: (0,0)-(1,1)-(2,2), and o has no defence (nor against the mirror)."""
    start = golden.get_initial_state()
    # no win on the first ply: the centre is two steps from every corner
    for a in golden.get_legal_actions(start):
        assert golden.get_current_player(golden.apply_action(start, a)) != TERMINAL
    for first, second in [("x(0,0)->(1,1)", "x(1,1)->(2,2)"), ("x(0,4)->(1,3)", "x(1,3)->(2,2)")]:
        after = golden.apply_action(start, first)
        replies = golden.get_legal_actions(after)
        assert len(replies) == 6
        for reply in replies:
            state = golden.apply_action(after, reply)
            assert golden.get_observations(state)[0]["stunned"] == []  # o cannot stun in time
            assert second in golden.get_legal_actions(state)
            end = golden.apply_action(state, second)
            assert golden.get_current_player(end) == TERMINAL
            assert golden.get_rewards(end) == [1.0, -1.0]
            assert golden.get_observations(end)[1]["turns"] == 3
    # and exactly these two first moves win by force in three plies
    forcing = []
    for a in golden.get_legal_actions(start):
        after = golden.apply_action(start, a)
        if all(
            any(
                golden.get_rewards(golden.apply_action(s, c)) == [1.0, -1.0]
                for c in golden.get_legal_actions(s)
            )
            for s in (golden.apply_action(after, b) for b in golden.get_legal_actions(after))
        ):
            forcing.append(a)
    assert forcing == ["x(0,0)->(1,1)", "x(0,4)->(1,3)"]


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
    # o wins with two diagonal steps while x shuffles
    o_win = replay(golden, ["x(0,0)->(0,1)", "o(4,0)->(3,1)", "x(0,1)->(0,0)", "o(3,1)->(2,2)"])[-1]
    assert golden.get_current_player(o_win) == TERMINAL
    assert golden.get_rewards(o_win) == [-1.0, 1.0]


def test_stun_blocks_exactly_one_turn(golden):
    states = replay(golden, ["x(0,0)->(1,0)", "o(4,0)->(3,0)", "x(1,0)->(2,0)"])
    stunned = states[-1]
    assert golden.get_observations(stunned)[1]["stunned"] == [[3, 0]]
    assert not any(a.startswith("o(3,0)") for a in golden.get_legal_actions(stunned))
    # o moves its other piece, x moves elsewhere: the stun is over although x still stands
    # next to the piece
    after = golden.apply_action(golden.apply_action(stunned, "o(4,4)->(4,3)"), "x(0,4)->(0,3)")
    assert "o(3,0)->(3,1)" in golden.get_legal_actions(after)
    assert golden.get_observations(after)[1]["stunned"] == []
    # but x landing next to it again (diagonally) stuns it again
    again = golden.apply_action(golden.apply_action(stunned, "o(4,4)->(4,3)"), "x(2,0)->(2,1)")
    assert golden.get_observations(again)[1]["stunned"] == [[3, 0]]


def test_stun_through_a_diagonal_step(golden):
    # x steps diagonally (1,0)-(2,1) and lands diagonally next to o's piece on (3,0)
    state = replay(golden, ["x(0,0)->(1,0)", "o(4,0)->(3,0)", "x(1,0)->(2,1)"])[-1]
    assert golden.get_observations(state)[1]["stunned"] == [[3, 0]]
    assert golden.get_legal_actions(state) == ["o(4,4)->(3,3)", "o(4,4)->(3,4)", "o(4,4)->(4,3)"]
    # o lands diagonally next to x's piece on (2,1): it may not step onto the centre
    state = replay(golden, ["x(0,0)->(1,0)", "o(4,0)->(4,1)", "x(1,0)->(2,1)", "o(4,1)->(3,2)"])[-1]
    assert golden.get_observations(state)[0]["stunned"] == [[2, 1]]
    assert "x(2,1)->(2,2)" not in golden.get_legal_actions(state)


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
        "x(0,0)->(2,2)",
        "x(0,0)->(0,2)",
        "x(0,0)->(2,0)",
        "x(0,4)->(2,2)",
        "o(4,0)->(3,0)",
        "x(4,4)->(3,4)",
        "pass",
        "x(2,2)->(2,3)",
        "",
        "x(0,0)",
    ]:
        with pytest.raises(ValueError):
            golden.apply_action(state, bad)


LOOP = ["x(0,0)->(0,1)", "o(4,0)->(4,1)", "x(0,1)->(0,0)", "o(4,1)->(4,0)"]


def test_draw_at_the_turn_limit(golden):
    # shuffle pieces back and forth far from the centre and from each other
    state = golden.get_initial_state()
    for t in range(MAX_TURNS):
        assert golden.get_current_player(state) == t % 2  # no end at 40 turns
        assert golden.get_rewards(state) == [0.0, 0.0]
        state = golden.apply_action(state, LOOP[t % 4])
    assert golden.get_current_player(state) == TERMINAL
    assert golden.get_rewards(state) == [0.0, 0.0]
    assert golden.get_legal_actions(state) == []
    assert golden.get_observations(state)[0]["turns"] == MAX_TURNS


def test_a_win_on_the_last_turn_counts(golden):
    actions = [LOOP[t % 4] for t in range(MAX_TURNS - 3)]
    actions += ["o(4,1)->(3,2)", "x(0,0)->(0,1)", "o(3,2)->(2,2)"]  # turns 48, 49, 50
    end = replay(golden, actions)[-1]
    assert golden.get_current_player(end) == TERMINAL
    assert golden.get_rewards(end) == [-1.0, 1.0]
    assert golden.get_observations(end)[0]["turns"] == MAX_TURNS


def test_apply_action_is_pure(golden):
    state = golden.get_initial_state()
    snapshot = repr(state)
    golden.apply_action(state, "x(0,0)->(1,1)")
    assert repr(state) == snapshot
