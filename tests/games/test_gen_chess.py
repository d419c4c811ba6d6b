"""Rule-by-rule checks of the Gardner minichess golden (no OpenSpiel counterpart).

Hand-built positions use the golden's state layout: a 25-character board indexed by
5 * rank + file (rank 0 = rank "1"), the player to move, the position list used for
repetition and the move history.
"""

from __future__ import annotations

import random
import re

import pytest

from gamecwm_jax.games import TERMINAL, get_game

golden = get_game("gen_chess").load_golden()
MOVE = re.compile(r"^[a-e][1-5][a-e][1-5][qrbn]?$")


def position(rows: list[str], player: int, plies: int = 0) -> dict:
    """A state from a diagram (rank 5 first, like the observation) with `plies` moves played."""
    board = "".join(reversed(rows))
    assert len(board) == 25
    return {
        "board": board,
        "player": player,
        "positions": [f"{board} {player}"],
        "history": ["a2a3"] * plies,
        "result": None,
    }


def diagram(state: dict) -> list[str]:
    return golden.get_observations(state)[0]["board"]


def is_in_check(state: dict, player: int) -> bool:
    king = "K" if player == 0 else "k"
    return golden._is_attacked(state["board"], state["board"].index(king), player == 1)


def test_initial_moves():
    state = golden.get_initial_state()
    assert golden.get_current_player(state) == 0
    assert sorted(golden.get_legal_actions(state)) == sorted(
        ["a2a3", "b2b3", "c2c3", "d2d3", "e2e3", "b1a3", "b1c3"]
    )


def test_illegal_actions_raise():
    state = golden.get_initial_state()
    for bad in ["e2e4", "a2a3q", "e1e2", "b1d2", "a4a3", "", "pass"]:
        with pytest.raises(ValueError):
            golden.apply_action(state, bad)


def test_sliding_pieces_and_captures():
    state = position(["....k", ".....", "..R.p", ".....", "K...."], 0)
    moves = {m for m in golden.get_legal_actions(state) if m.startswith("c3")}
    # the rook slides along rank 3 (capturing e3) and file c, never past a piece
    assert moves == {"c3a3", "c3b3", "c3d3", "c3e3", "c3c1", "c3c2", "c3c4", "c3c5"}
    after = golden.apply_action(state, "c3e3")
    assert diagram(after) == ["....k", ".....", "....R", ".....", "K...."]


def test_knight_and_king_moves():
    state = position(["k....", ".....", "..N..", ".....", "....K"], 0)
    legal = set(golden.get_legal_actions(state))
    assert {m for m in legal if m.startswith("c3")} == {
        "c3a2",
        "c3a4",
        "c3b1",
        "c3b5",
        "c3d1",
        "c3d5",
        "c3e2",
        "c3e4",
    }
    assert {m for m in legal if m.startswith("e1")} == {"e1d1", "e1d2", "e1e2"}


def test_pawn_steps_captures_and_promotion():
    # white pawn c4 may step to c5 (promotion) or capture b5 / d5 (promotion)
    state = position([".r.nk", "..P..", ".....", ".....", "K...."], 0)
    pawn = sorted(m for m in golden.get_legal_actions(state) if m.startswith("c4"))
    assert pawn == sorted(f"c4{t}{p}" for t in ("b5", "c5", "d5") for p in "qrbn")
    for piece in "qrbn":
        after = golden.apply_action(state, f"c4d5{piece}")
        assert diagram(after)[0] == ".r." + piece.upper() + "k"
    # black pawns move down: b2 steps to b1 or captures a1 / c1
    state = position(["....k", ".....", ".....", ".p.K.", "R.N.."], 1)
    pawn = sorted(m for m in golden.get_legal_actions(state) if m.startswith("b2"))
    assert pawn == sorted(f"b2{t}{p}" for t in ("a1", "b1", "c1") for p in "qrbn")
    assert diagram(golden.apply_action(state, "b2a1n"))[4] == "n.N.."


def test_pawn_blocked_and_no_double_step():
    state = position(["....k", "p....", ".....", "P...P", "K...."], 0)
    legal = set(golden.get_legal_actions(state))
    assert "a2a3" in legal and "a2a4" not in legal and "e2e4" not in legal
    state = position(["....k", ".....", "p....", "P....", "...K."], 0)
    assert not any(m.startswith("a2") for m in golden.get_legal_actions(state))


def test_pinned_piece_and_king_safety():
    # the white rook on a2 is pinned on the a-file by the black rook a5
    state = position(["r...k", ".....", ".....", "R....", "K...."], 0)
    rook = {m for m in golden.get_legal_actions(state) if m.startswith("a2")}
    assert rook == {"a2a3", "a2a4", "a2a5"}
    # the king may not step next to the enemy king or onto an attacked square
    state = position([".....", "..k..", ".....", "..K..", "....."], 0)
    assert set(golden.get_legal_actions(state)) == {"c2b1", "c2c1", "c2d1", "c2b2", "c2d2"}


def test_check_must_be_answered():
    state = position(["....k", ".....", ".....", "....R", "K...."], 1)  # rook checks e5
    assert set(golden.get_legal_actions(state)) == {"e5d5", "e5d4"}


def test_checkmate_wins():
    state = position(["....k", "...pp", ".....", ".....", "R...K"], 0)
    after = golden.apply_action(state, "a1a5")
    assert golden.get_current_player(after) == TERMINAL
    assert golden.get_rewards(after) == [1.0, -1.0]
    state = position(["k...r", ".....", ".....", "PPP..", ".K..."], 1)
    after = golden.apply_action(state, "e5e1")
    assert golden.get_rewards(after) == [-1.0, 1.0]


def test_stalemate_draws():
    state = position(["k....", ".....", "..Q..", ".....", "....K"], 0)
    after = golden.apply_action(state, "c3b3")
    assert golden.get_current_player(after) == TERMINAL
    assert golden.get_rewards(after) == [0.0, 0.0]
    assert not is_in_check(after, 1)


def test_bare_material_draws():
    # capturing the last black piece leaves king + knight v king: drawn at once
    state = position(["....k", ".....", "..p..", ".....", ".N..K"], 0)
    after = golden.apply_action(state, "b1c3")
    assert golden.get_current_player(after) == TERMINAL and golden.get_rewards(after) == [0.0, 0.0]
    # king + rook v king is not bare material
    state = position(["....k", ".....", "..p..", ".....", "R...K"], 0)
    after = golden.apply_action(state, "a1a3")
    assert golden.get_current_player(after) == 1


def test_ply_limit_and_mate_precedence():
    state = position(["....k", ".....", "..p..", ".....", "R...K"], 0, plies=99)
    after = golden.apply_action(state, "a1a2")
    assert golden.get_current_player(after) == TERMINAL and golden.get_rewards(after) == [0.0, 0.0]
    # a checkmate on the 100th ply still wins
    state = position(["....k", "...pp", ".....", ".....", "R...K"], 0, plies=99)
    assert golden.get_rewards(golden.apply_action(state, "a1a5")) == [1.0, -1.0]


def test_threefold_repetition():
    state = golden.get_initial_state()
    shuffle = ["b1a3", "b5c3", "a3b1", "c3b5"]
    for k, move in enumerate(shuffle * 2):
        assert golden.get_current_player(state) != TERMINAL
        state = golden.apply_action(state, move)
    assert golden.get_current_player(state) == TERMINAL
    assert golden.get_observations(state)[1]["repetitions"] == 3


def test_random_games_keep_the_invariants():
    rng = random.Random(0)
    outcomes = set()
    for _ in range(150):
        state = golden.get_initial_state()
        while golden.get_current_player(state) != TERMINAL:
            mover = state["player"]
            legal = golden.get_legal_actions(state)
            assert legal and all(MOVE.match(m) for m in legal)
            state = golden.apply_action(state, rng.choice(legal))
            board = state["board"]
            assert board.count("K") == 1 and board.count("k") == 1
            assert not is_in_check(state, mover), "a move left the mover's king attacked"
            # pawns never stand on a promotion rank
            assert "P" not in board[20:] and "p" not in board[:5]
            assert len(state["history"]) <= 100
        rewards = golden.get_rewards(state)
        outcomes.add(tuple(rewards))
        if rewards != [0.0, 0.0]:  # a decisive game ends with the loser checkmated
            loser = rewards.index(-1.0)
            assert state["player"] == loser and is_in_check(state, loser)
            assert golden._legal_moves(state["board"], loser == 0) == []
    assert outcomes == {(1.0, -1.0), (-1.0, 1.0), (0.0, 0.0)}
