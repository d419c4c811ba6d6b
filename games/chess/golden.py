"""Chess as a Game Code World Model, ending games as OpenSpiel's `chess` does.

Player 0 is BLACK, player 1 WHITE (white moves first). Moves are UCI strings ("e2e4",
"e1g1" castles, "e7e8q"). The board is a 64-character string, sq = 8 * rank + file;
"PNBRQK" white, "pnbrqk" black, "." empty.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
BLACK, WHITE = 0, 1  # OpenSpiel's player ids
FILES = "abcdefgh"
START = "RNBQKBNR" + "P" * 8 + "." * 32 + "p" * 8 + "rnbqkbnr"
ORTHOGONAL = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (file step, rank step)
DIAGONAL = ((1, 1), (-1, 1), (1, -1), (-1, -1))
KNIGHT_STEPS = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
PROMOTIONS = "qrbn"


def _name(sq: int) -> str:
    return FILES[sq % 8] + str(sq // 8 + 1)


def _square(name: str) -> int:
    return 8 * (int(name[1]) - 1) + FILES.index(name[0])


def _ray(sq: int, df: int, dr: int) -> list[int]:
    """The squares from sq (exclusive) to the edge of the board in direction (df, dr)."""
    f, r, out = sq % 8 + df, sq // 8 + dr, []
    while 0 <= f < 8 and 0 <= r < 8:
        out.append(8 * r + f)
        f, r = f + df, r + dr
    return out


# Precomputed geometry: rays (for sliders), knight and king targets of every square.
ROOK_RAYS = [[_ray(sq, df, dr) for df, dr in ORTHOGONAL] for sq in range(64)]
BISHOP_RAYS = [[_ray(sq, df, dr) for df, dr in DIAGONAL] for sq in range(64)]
KNIGHT_TARGETS = [[r[0] for r in (_ray(sq, df, dr) for df, dr in KNIGHT_STEPS) if r] for sq in range(64)]
KING_TARGETS = [[r[0] for r in (_ray(sq, df, dr) for df, dr in ORTHOGONAL + DIAGONAL) if r] for sq in range(64)]


def _white(piece: str) -> bool:
    return piece.isupper()


def _is_attacked(board: str, sq: int, by_white: bool) -> bool:
    """Whether a piece of the given colour attacks sq."""
    pawn, knight, bishop, rook, queen, king = "PNBRQK" if by_white else "pnbrqk"
    f, r = sq % 8, sq // 8
    pawn_rank = r - 1 if by_white else r + 1  # attacking pawns stand one rank "behind" sq
    if 0 <= pawn_rank < 8:
        for pf in (f - 1, f + 1):
            if 0 <= pf < 8 and board[8 * pawn_rank + pf] == pawn:
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


def _pseudo_moves(board: str, white: bool, castling: str, ep: int | None) -> list[tuple[int, int, str]]:
    """Moves (from, to, promotion letter or "") ignoring whether they leave the king in check."""
    moves = []
    own = str.isupper if white else str.islower
    for sq in range(64):
        piece = board[sq]
        if piece == "." or not own(piece):
            continue
        kind = piece.upper()
        if kind == "P":
            step, start_rank, last_rank = (8, 1, 7) if white else (-8, 6, 0)
            targets = []
            if board[sq + step] == ".":
                targets.append(sq + step)
                if sq // 8 == start_rank and board[sq + 2 * step] == ".":
                    targets.append(sq + 2 * step)
            for df in (-1, 1):
                if 0 <= sq % 8 + df < 8:
                    t = sq + step + df
                    if (board[t] != "." and not own(board[t])) or t == ep:
                        targets.append(t)
            for t in targets:
                if t // 8 == last_rank:
                    moves += [(sq, t, p) for p in PROMOTIONS]
                else:
                    moves.append((sq, t, ""))
        elif kind in "NK":
            for t in (KNIGHT_TARGETS if kind == "N" else KING_TARGETS)[sq]:
                if board[t] == "." or not own(board[t]):
                    moves.append((sq, t, ""))
        else:
            rays = []
            if kind in "RQ":
                rays += ROOK_RAYS[sq]
            if kind in "BQ":
                rays += BISHOP_RAYS[sq]
            for ray in rays:
                for t in ray:
                    if board[t] == ".":
                        moves.append((sq, t, ""))
                    else:
                        if not own(board[t]):
                            moves.append((sq, t, ""))
                        break
    # Castling: right held, squares between empty, king not in check nor passing an attacked
    # square (landing on one is excluded by the general check test).
    base = 0 if white else 56  # first square of the home rank
    for right, between, king_path in (("K", (5, 6), (5, 6)), ("Q", (1, 2, 3), (3, 2))):
        if (right if white else right.lower()) not in castling:
            continue
        if any(board[base + f] != "." for f in between):
            continue
        if _is_attacked(board, base + 4, not white) or _is_attacked(board, base + king_path[0], not white):
            continue
        moves.append((base + 4, base + king_path[1], ""))
    return moves


def _play(board: str, move: tuple[int, int, str], ep: int | None) -> str:
    """The board after a (pseudo-legal) move: handles castling, en passant and promotion."""
    frm, to, promo = move
    cells = list(board)
    piece = cells[frm]
    cells[frm] = "."
    if piece in "Pp" and to == ep and cells[to] == ".":
        cells[to - 8 if piece == "P" else to + 8] = "."  # en passant capture
    if piece in "Kk" and abs(to - frm) == 2:  # castling also moves the rook
        rook_from, rook_to = (frm + 3, frm + 1) if to > frm else (frm - 4, frm - 1)
        cells[rook_to], cells[rook_from] = cells[rook_from], "."
    if promo:
        piece = promo.upper() if piece == "P" else promo
    cells[to] = piece
    return "".join(cells)


_LEGAL_CACHE: dict[tuple, list[str]] = {}  # legal moves depend only on this position key


def _legal_moves(board: str, white: bool, castling: str, ep: int | None) -> list[str]:
    key = (board, white, castling, ep)
    cached = _LEGAL_CACHE.get(key)
    if cached is not None:
        return cached
    king = "K" if white else "k"
    legal = []
    for move in _pseudo_moves(board, white, castling, ep):
        after = _play(board, move, ep)
        if not _is_attacked(after, after.index(king), not white):
            legal.append(_name(move[0]) + _name(move[1]) + move[2])
    if len(_LEGAL_CACHE) > 20000:
        _LEGAL_CACHE.clear()
    _LEGAL_CACHE[key] = legal
    return legal


def _sufficient_material(board: str) -> bool:
    """False for the dead positions OpenSpiel recognises (see rules.md)."""
    knights = {True: 0, False: 0}
    bishops = {True: 0, False: 0}  # by colour of square: True for dark squares
    minor = {True: 0, False: 0}  # knights + bishops by side (True = white)
    for sq, piece in enumerate(board):
        kind = piece.upper()
        if kind in "PRQ":
            return True
        if kind == "N":
            knights[_white(piece)] += 1
            minor[_white(piece)] += 1
        elif kind == "B":
            bishops[(sq % 8 + sq // 8) % 2 == 0] += 1
            minor[_white(piece)] += 1
    if knights[True] > 1 or knights[False] > 1:
        return True
    for side in (True, False):
        if knights[side] == 1:
            # a knight plus any other minor piece on the board is enough
            return minor[side] > 1 or minor[not side] > 0
    return bishops[True] > 0 and bishops[False] > 0


def _position_key(board: str, player: int, castling: str, ep: int | None) -> str:
    return f"{board} {player} {castling} {ep}"


def get_initial_state() -> State:
    key = _position_key(START, WHITE, "KQkq", None)
    # castling: rights held (FEN "KQkq" subset); ep: en passant target or None; halfmove,
    # positions: actions and position keys since the last pawn move or capture.
    return {"board": START, "player": WHITE, "castling": "KQkq", "ep": None, "halfmove": 0,
            "positions": [key], "history": [], "result": None}


def get_current_player(state: State) -> int:
    return TERMINAL if state["result"] is not None else state["player"]


def get_player_name(player: int) -> str:
    return {BLACK: "black", WHITE: "white", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    if state["result"] is not None:
        return []
    ep = _square(state["ep"]) if state["ep"] else None
    return list(_legal_moves(state["board"], state["player"] == WHITE, state["castling"], ep))


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in chess


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    board, player = state["board"], state["player"]
    frm, to, promo = _square(action[:2]), _square(action[2:4]), action[4:]
    ep = _square(state["ep"]) if state["ep"] else None
    piece, target = board[frm], board[to]
    new_board = _play(board, (frm, to, promo), ep)

    # Castling rights are lost when the king moves, when a rook leaves its corner, or when
    # something captures on a rook's original corner.
    castling = state["castling"]
    lost = {"K": "KQ", "k": "kq"}.get(piece, "")
    for corner, right in ((0, "Q"), (7, "K"), (56, "q"), (63, "k")):
        if corner in (frm, to):
            lost += right
    castling = "".join(c for c in castling if c not in lost)

    # En passant target: set after a double pawn step if an enemy pawn stands beside it.
    new_ep = None
    if piece in "Pp" and abs(to - frm) == 16:
        enemy_pawn = "p" if piece == "P" else "P"
        beside = [to + df for df in (-1, 1) if 0 <= to % 8 + df < 8]
        if any(new_board[s] == enemy_pawn for s in beside):
            new_ep = (frm + to) // 2

    irreversible = piece in "Pp" or target != "."
    halfmove = 0 if irreversible else state["halfmove"] + 1
    next_player = 1 - player
    key = _position_key(new_board, next_player, castling, new_ep)
    positions = [key] if irreversible else state["positions"] + [key]

    # The end of the game, checked in this order (as OpenSpiel does).
    result = None
    if not _sufficient_material(new_board) or positions.count(key) >= 3:
        result = [0.0, 0.0]
    elif not _legal_moves(new_board, next_player == WHITE, castling, new_ep):
        king = "K" if next_player == WHITE else "k"
        if _is_attacked(new_board, new_board.index(king), next_player == BLACK):
            result = [1.0, 1.0]  # checkmate: the player to move loses
            result[next_player] = -1.0
        else:
            result = [0.0, 0.0]  # stalemate
    elif halfmove >= 100:
        result = [0.0, 0.0]  # 50-move rule
    return {"board": new_board, "player": next_player, "castling": castling,
            "ep": _name(new_ep) if new_ep is not None else None, "halfmove": halfmove,
            "positions": positions, "history": state["history"] + [action], "result": result}


def get_rewards(state: State) -> list[float]:
    return list(state["result"]) if state["result"] is not None else [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything; the board is printed rank 8 first.
    board = state["board"]
    obs = {
        "board": [board[8 * r:8 * r + 8] for r in range(7, -1, -1)],
        "to_move": get_current_player(state),
        "castling": state["castling"],
        "en_passant": state["ep"],
        "halfmove_clock": state["halfmove"],
        "repetitions": state["positions"].count(state["positions"][-1]),
        "history": list(state["history"]),
    }
    return [dict(obs), dict(obs)]
