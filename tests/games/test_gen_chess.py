"""Rule-by-rule checks of the Gardner minichess golden (no OpenSpiel counterpart).

Hand-built positions use the golden's state layout: a 25-character board indexed by
5 * rank + file (rank 0 = rank "1"), the player to move, the en passant square (index or
None) and the halfmove clock. Random games re-derive the clock and the en passant square
from the boards alone, move by move.
"""

from __future__ import annotations

import random
import re

import pytest

from gamecwm_jax.games import TERMINAL, get_game

golden = get_game("gen_chess").load_golden()
MOVE = re.compile(r"^[a-e][1-5][a-e][1-5][qrbn]?$")


def position(rows: list[str], player: int, clock: int = 0, ep: str | None = None) -> dict:
    """A state from a diagram (rank 5 first, like the observation)."""
    board = "".join(reversed(rows))
    assert len(board) == 25
    square = None if ep is None else golden._square(ep)
    return {"board": board, "player": player, "ep": square, "clock": clock, "result": None}


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


def test_pawn_double_step():
    state = position(["....k", "p....", ".....", "P...P", "K...."], 0)
    legal = set(golden.get_legal_actions(state))
    # a2 is blocked two squares ahead, e2 has a free file; rank 2 is the starting rank
    assert {m for m in legal if m[:2] in ("a2", "e2")} == {"a2a3", "e2e3", "e2e4"}
    after = golden.apply_action(state, "e2e4")
    assert golden.get_observations(after)[0]["en_passant"] == "e3"
    # a piece on the passed square blocks both steps; a pawn off its start rank single-steps
    state = position(["....k", ".....", "p.P..", "P....", "...K."], 0)
    assert {m for m in golden.get_legal_actions(state) if m[:2] in ("a2", "c3")} == {"c3c4"}
    # black double-steps from rank 4 to rank 2
    state = position(["....k", "...p.", ".....", ".....", "K...."], 1)
    assert {m for m in golden.get_legal_actions(state) if m[:2] == "d4"} == {"d4d3", "d4d2"}
    after = golden.apply_action(state, "d4d2")
    assert golden.get_observations(after)[1]["en_passant"] == "d3"


def test_en_passant():
    # black b4 may take the a-pawn that just passed a3, on this move only
    state = position(["....k", ".p...", ".....", "P...K", "....."], 0)
    after = golden.apply_action(state, "a2a4")
    assert "b4a3" in golden.get_legal_actions(after)
    taken = golden.apply_action(after, "b4a3")
    assert diagram(taken) == ["....k", ".....", "p....", "....K", "....."]
    assert golden.get_observations(taken)[0]["halfmove_clock"] == 0
    later = golden.apply_action(golden.apply_action(after, "e5d5"), "e2d1")
    assert "b4a3" not in golden.get_legal_actions(later)
    # white c2 takes the black pawn that just passed d3
    state = position(["k....", ".....", ".....", "..P..", "K...."], 0, ep="d3")
    state["board"] = state["board"][:8] + "p" + state["board"][9:]  # black pawn on d2
    assert "c2d3" in golden.get_legal_actions(state)
    assert diagram(golden.apply_action(state, "c2d3")) == [
        "k....",
        ".....",
        "...P.",
        ".....",
        "K....",
    ]


def test_en_passant_may_not_expose_the_king():
    # both pawns leave rank 2 in an en passant capture: the rook on e2 would see the king
    state = position(["....k", "..p..", ".....", "KP..r", "....."], 1)
    after = golden.apply_action(state, "c4c2")
    assert golden.get_observations(after)[0]["en_passant"] == "c3"
    assert "b2c3" not in golden.get_legal_actions(after)
    assert "b2b3" in golden.get_legal_actions(after)


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


def test_no_progress_draw_and_mate_precedence():
    state = position(["....k", ".....", "..p..", ".....", "R...K"], 0, clock=99)
    after = golden.apply_action(state, "a1a2")
    assert golden.get_current_player(after) == TERMINAL and golden.get_rewards(after) == [0.0, 0.0]
    assert golden.get_observations(after)[0]["halfmove_clock"] == 100
    # a pawn move or a capture on the 100th ply resets the clock instead
    state = position(["....k", ".....", "..p..", "P....", "R...K"], 0, clock=99)
    for move in ("a2a3", "a2a4"):
        after = golden.apply_action(state, move)
        assert golden.get_current_player(after) == 1
        assert golden.get_observations(after)[0]["halfmove_clock"] == 0
    state = position(["....k", ".....", "..p..", ".....", "..R.K"], 0, clock=99)
    after = golden.apply_action(state, "c1c3")
    assert golden.get_current_player(after) == 1
    # a checkmate on the 100th quiet ply still wins
    state = position(["....k", "...pp", ".....", ".....", "R...K"], 0, clock=99)
    assert golden.get_rewards(golden.apply_action(state, "a1a5")) == [1.0, -1.0]


def test_no_repetition_rule():
    state = golden.get_initial_state()
    for move in ["b1a3", "b5c3", "a3b1", "c3b5"] * 3:  # the start position comes back 3 times
        state = golden.apply_action(state, move)
    assert golden.get_current_player(state) == 0
    assert golden.get_observations(state)[0]["halfmove_clock"] == 12


def _expected_step(before: str, action: str, clock: int) -> tuple[int, str | None]:
    """(clock, en passant square) after `action`, from the board before it alone."""
    files = "abcde"
    frm = 5 * (int(action[1]) - 1) + files.index(action[0])
    to = 5 * (int(action[3]) - 1) + files.index(action[2])
    pawn = before[frm] in "Pp"
    clock = 0 if pawn or before[to] != "." else clock + 1
    double = pawn and abs(int(action[3]) - int(action[1])) == 2
    ep = f"{action[0]}{(int(action[1]) + int(action[3])) // 2}" if double else None
    return clock, ep


def test_random_games_keep_the_invariants():
    rng = random.Random(0)
    outcomes = set()
    en_passant_captures = double_steps = 0
    for _ in range(150):
        state = golden.get_initial_state()
        clock, plies = 0, 0
        while golden.get_current_player(state) != TERMINAL:
            mover = state["player"]
            legal = golden.get_legal_actions(state)
            assert legal and all(MOVE.match(m) for m in legal)
            action = rng.choice(legal)
            before = state["board"]
            state = golden.apply_action(state, action)
            plies += 1
            board = state["board"]
            clock, ep = _expected_step(before, action, clock)
            obs = golden.get_observations(state)[0]
            assert (obs["halfmove_clock"], obs["en_passant"]) == (clock, ep)
            double_steps += ep is not None
            # a pawn moving diagonally onto an empty square captured en passant: one piece fewer
            diagonal = before[golden._square(action[:2])] in "Pp" and action[0] != action[2]
            if diagonal and before[golden._square(action[2:4])] == ".":
                en_passant_captures += 1
                assert sum(p != "." for p in board) == sum(p != "." for p in before) - 1
            assert board.count("K") == 1 and board.count("k") == 1
            assert not is_in_check(state, mover), "a move left the mover's king attacked"
            # pawns never stand on a promotion rank
            assert "P" not in board[20:] and "p" not in board[:5]
            assert clock <= 100 and plies <= 4900
        rewards = golden.get_rewards(state)
        outcomes.add(tuple(rewards))
        if rewards != [0.0, 0.0]:  # a decisive game ends with the loser checkmated
            loser = rewards.index(-1.0)
            assert state["player"] == loser and is_in_check(state, loser)
            assert golden.get_legal_actions(dict(state, result=None)) == []
    assert outcomes == {(1.0, -1.0), (-1.0, 1.0), (0.0, 0.0)}
    assert double_steps > 0 and en_passant_captures > 0


def _reaches(board: dict, frm: tuple[int, int], to: tuple[int, int], ep: tuple | None) -> bool:
    """Whether the piece on `frm` may move to `to` by its movement rule alone (not king safety).

    Written from the rule text over (file, rank) pairs and displacement vectors, independent of
    the golden's precomputed rays.
    """
    piece = board[frm]
    target = board.get(to)
    if target is not None and target.isupper() == piece.isupper():
        return False
    df, dr = to[0] - frm[0], to[1] - frm[1]
    kind = piece.upper()
    if kind == "P":
        forward, start = (1, 1) if piece.isupper() else (-1, 3)
        if df == 0:
            if dr == forward:
                return target is None
            between = (frm[0], frm[1] + forward)
            return dr == 2 * forward and frm[1] == start and target is None and between not in board
        return abs(df) == 1 and dr == forward and (target is not None or to == ep)
    if kind == "N":
        return {abs(df), abs(dr)} == {1, 2}
    if kind == "K":
        return max(abs(df), abs(dr)) == 1
    straight, diagonal = df == 0 or dr == 0, abs(df) == abs(dr)
    if not ((kind in "RQ" and straight) or (kind in "BQ" and diagonal)) or (df, dr) == (0, 0):
        return False
    steps = max(abs(df), abs(dr))
    sf, sr = df // steps, dr // steps
    return all((frm[0] + k * sf, frm[1] + k * sr) not in board for k in range(1, steps))


def _independent_legal(obs: dict) -> set[str]:
    """Every legal move of the side to move, from the observation alone, by brute force."""
    board = {
        (f, 4 - r): ch
        for r, row in enumerate(obs["board"])
        for f, ch in enumerate(row)
        if ch != "."
    }
    white = obs["to_move"] == 0
    ep = None if obs["en_passant"] is None else ("abcde".index(obs["en_passant"][0]), 2)
    squares = [(f, r) for f in range(5) for r in range(5)]
    moves = set()
    for frm, piece in board.items():
        if piece.isupper() != white:
            continue
        for to in squares:
            if not _reaches(board, frm, to, ep):
                continue
            after = dict(board)
            if piece in "Pp" and to == ep:
                del after[(to[0], frm[1])]  # the pawn that passed the square
            del after[frm]
            after[to] = piece
            king = next(sq for sq, p in after.items() if p == ("K" if white else "k"))
            if any(
                p.isupper() != white and _reaches(after, sq, king, None) for sq, p in after.items()
            ):
                continue
            name = "abcde"[frm[0]] + str(frm[1] + 1) + "abcde"[to[0]] + str(to[1] + 1)
            last = 4 if white else 0
            promos = "qrbn" if piece in "Pp" and to[1] == last else [""]
            moves |= {name + p for p in promos}
    return moves


def test_legal_moves_match_an_independent_generator():
    rng = random.Random(5)
    positions = 0
    for _ in range(25):
        state = golden.get_initial_state()
        while golden.get_current_player(state) != TERMINAL:
            obs = golden.get_observations(state)[0]
            legal = golden.get_legal_actions(state)
            assert set(legal) == _independent_legal(obs), obs
            positions += 1
            state = golden.apply_action(state, rng.choice(legal))
    assert positions > 1000
