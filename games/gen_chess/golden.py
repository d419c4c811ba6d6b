"""Gardner minichess (5x5) as a Game Code World Model.

Chess on a 5x5 board: each side has a king, queen, rook, bishop, knight and five pawns.
No castling; pawns may double-step from their starting rank (hence en passant) and promote
on the last rank. Checkmate wins; stalemate, 100 plies without a pawn move or capture, and
bare material draw. There is no repetition rule and no move cap, as in the seed's version.
Player 0 is white (moves first), player 1 is black. Moves are written "b2b3", "a4b5q".

The board is a 25-character string indexed by sq = 5 * rank + file (rank 0 is rank "1",
file 0 is file "a"): "KQRBNP" are white pieces, "kqrbnp" black ones, "." an empty square.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
WHITE, BLACK = 0, 1
SIZE = 5
FILES = "abcde"
START = "RNBQK" + "PPPPP" + "....." + "ppppp" + "rnbqk"
NO_PROGRESS_PLIES = 100  # drawn after this many plies without a pawn move or capture
ORTHOGONAL = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (file step, rank step)
DIAGONAL = ((1, 1), (-1, 1), (1, -1), (-1, -1))
KNIGHT_STEPS = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
PROMOTIONS = "qrbn"


def _name(sq: int) -> str:
    return FILES[sq % SIZE] + str(sq // SIZE + 1)


def _square(name: str) -> int:
    return SIZE * (int(name[1]) - 1) + FILES.index(name[0])


def _ray(sq: int, df: int, dr: int) -> list[int]:
    """The squares from sq (exclusive) to the edge of the board in direction (df, dr)."""
    f, r, out = sq % SIZE + df, sq // SIZE + dr, []
    while 0 <= f < SIZE and 0 <= r < SIZE:
        out.append(SIZE * r + f)
        f, r = f + df, r + dr
    return out


# Precomputed geometry: rays (for sliders), knight and king targets of every square.
N = SIZE * SIZE
ROOK_RAYS = [[_ray(sq, df, dr) for df, dr in ORTHOGONAL] for sq in range(N)]
BISHOP_RAYS = [[_ray(sq, df, dr) for df, dr in DIAGONAL] for sq in range(N)]
KNIGHT_TARGETS = [
    [r[0] for r in (_ray(sq, df, dr) for df, dr in KNIGHT_STEPS) if r] for sq in range(N)
]
KING_TARGETS = [
    [r[0] for r in (_ray(sq, df, dr) for df, dr in ORTHOGONAL + DIAGONAL) if r] for sq in range(N)
]


def _is_attacked(board: str, sq: int, by_white: bool) -> bool:
    """Whether a piece of the given colour attacks sq."""
    pawn, knight, bishop, rook, queen, king = "PNBRQK" if by_white else "pnbrqk"
    f, r = sq % SIZE, sq // SIZE
    pawn_rank = r - 1 if by_white else r + 1  # attacking pawns stand one rank "behind" sq
    if 0 <= pawn_rank < SIZE:
        for pf in (f - 1, f + 1):
            if 0 <= pf < SIZE and board[SIZE * pawn_rank + pf] == pawn:
                return True
    if any(board[t] == knight for t in KNIGHT_TARGETS[sq]):
        return True
    if any(board[t] == king for t in KING_TARGETS[sq]):
        return True
    for rays, sliders in ((ROOK_RAYS[sq], (rook, queen)), (BISHOP_RAYS[sq], (bishop, queen))):
        for ray in rays:
            for t in ray:
                if board[t] != ".":
                    if board[t] in sliders:
                        return True
                    break
    return False


def _pseudo_moves(board: str, white: bool, ep: int | None) -> list[tuple[int, int, str]]:
    """Moves (from, to, promotion letter or "") ignoring whether they leave the king in check.

    ep is the en passant square (the square a double-stepping pawn just passed), or None.
    """
    moves = []
    own = str.isupper if white else str.islower
    for sq in range(N):
        piece = board[sq]
        if piece == "." or not own(piece):
            continue
        kind = piece.upper()
        if kind == "P":
            step, start_rank, last_rank = (SIZE, 1, SIZE - 1) if white else (-SIZE, SIZE - 2, 0)
            targets = []
            if board[sq + step] == ".":
                targets.append(sq + step)
                if sq // SIZE == start_rank and board[sq + 2 * step] == ".":
                    targets.append(sq + 2 * step)  # double step from the starting rank
            for df in (-1, 1):
                if 0 <= sq % SIZE + df < SIZE:
                    t = sq + step + df
                    if (board[t] != "." and not own(board[t])) or t == ep:
                        targets.append(t)
            for t in targets:
                if t // SIZE == last_rank:
                    moves += [(sq, t, p) for p in PROMOTIONS]
                else:
                    moves.append((sq, t, ""))
        elif kind in "NK":
            for t in (KNIGHT_TARGETS if kind == "N" else KING_TARGETS)[sq]:
                if board[t] == "." or not own(board[t]):
                    moves.append((sq, t, ""))
        else:
            rays = (ROOK_RAYS[sq] if kind in "RQ" else []) + (
                BISHOP_RAYS[sq] if kind in "BQ" else []
            )
            for ray in rays:
                for t in ray:
                    if board[t] == ".":
                        moves.append((sq, t, ""))
                    else:
                        if not own(board[t]):
                            moves.append((sq, t, ""))
                        break
    return moves


def _play(board: str, move: tuple[int, int, str]) -> str:
    frm, to, promo = move
    piece = board[frm]
    cells = list(board)
    if piece in "Pp" and frm % SIZE != to % SIZE and board[to] == ".":
        cells[SIZE * (frm // SIZE) + to % SIZE] = "."  # en passant: the passed pawn goes
    if promo:
        piece = promo.upper() if piece == "P" else promo
    cells[frm], cells[to] = ".", piece
    return "".join(cells)


def _legal_moves(board: str, white: bool, ep: int | None) -> list[str]:
    king = "K" if white else "k"
    legal = []
    for move in _pseudo_moves(board, white, ep):
        after = _play(board, move)
        if not _is_attacked(after, after.index(king), not white):  # own king must be safe
            legal.append(_name(move[0]) + _name(move[1]) + move[2])
    return legal


def _bare_material(board: str) -> bool:
    """Only the two kings, or the two kings and a single knight or bishop, remain."""
    others = [p for p in board if p not in ".Kk"]
    return not others or (len(others) == 1 and others[0] in "NBnb")


def get_initial_state() -> State:
    # ep: the en passant square (index) right after a double step, else None;
    # clock: plies since the last pawn move or capture;
    # result: final rewards once the game has ended, else None.
    return {"board": START, "player": WHITE, "ep": None, "clock": 0, "result": None}


def get_current_player(state: State) -> int:
    return TERMINAL if state["result"] is not None else state["player"]


def get_player_name(player: int) -> str:
    return {WHITE: "white", BLACK: "black", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    if state["result"] is not None:
        return []
    return _legal_moves(state["board"], state["player"] == WHITE, state["ep"])


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in minichess


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    before = state["board"]
    frm, to = _square(action[:2]), _square(action[2:4])
    board = _play(before, (frm, to, action[4:]))
    pawn = before[frm] in "Pp"
    progress = pawn or before[to] != "."  # a pawn move (en passant included) or a capture
    clock = 0 if progress else state["clock"] + 1
    ep = (frm + to) // 2 if pawn and abs(to - frm) == 2 * SIZE else None
    player = 1 - state["player"]

    # The end of the game, checked in this order.
    result = None
    if not _legal_moves(board, player == WHITE, ep):
        king = "K" if player == WHITE else "k"
        if _is_attacked(board, board.index(king), player == BLACK):
            result = [1.0, 1.0]  # checkmate: the player to move loses
            result[player] = -1.0
        else:
            result = [0.0, 0.0]  # stalemate
    elif clock >= NO_PROGRESS_PLIES or _bare_material(board):
        result = [0.0, 0.0]
    return {"board": board, "player": player, "ep": ep, "clock": clock, "result": result}


def get_rewards(state: State) -> list[float]:
    return list(state["result"]) if state["result"] is not None else [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything; the board is printed rank 5 first.
    board = state["board"]
    obs = {
        "board": [board[SIZE * r : SIZE * r + SIZE] for r in range(SIZE - 1, -1, -1)],
        "to_move": get_current_player(state),
        "en_passant": None if state["ep"] is None else _name(state["ep"]),
        "halfmove_clock": state["clock"],
    }
    return [dict(obs), dict(obs)]
