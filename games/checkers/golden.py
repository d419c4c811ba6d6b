"""Checkers (8x8, as OpenSpiel plays it) as a Game Code World Model.

Player 0 (white, pieces "w"/"W") starts on ranks 1-3 and moves first, up the board;
player 1 (black, "b"/"B") starts on ranks 6-8 and moves down. Men move one square
diagonally forward, kings one square diagonally in any direction. Capturing is
compulsory; a multi-jump is played as several actions by the same player. The game is
drawn after 40 consecutive actions without a capture.

The board is a list of 8 strings, index 0 being rank 8 (the top) and index 7 rank 1;
character j of a row is file "abcdefgh"[j]. Squares are named like "c3".
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 8
FILES = "abcdefgh"
MAX_QUIET = 40  # actions in a row without a capture that end the game in a draw
MEN = ("w", "b")  # player 0's man, player 1's man
KINGS = ("W", "B")
# Row steps each player's men may take: white moves up (towards row 0), black down.
FORWARD = (-1, 1)
DIAGONALS = ((-1, -1), (-1, 1), (1, -1), (1, 1))


def _square(row: int, col: int) -> str:
    return f"{FILES[col]}{SIZE - row}"


def _coords(square: str) -> tuple[int, int]:
    return SIZE - int(square[1:]), FILES.index(square[0])


def get_initial_state() -> State:
    board = []
    for row in range(SIZE):
        line = ""
        for col in range(SIZE):
            dark = (row + col) % 2 == 1
            if dark and row < 3:
                line += "b"
            elif dark and row >= SIZE - 3:
                line += "w"
            else:
                line += "."
        board.append(line)
    # jumper: square of the piece that must continue a multi-jump, else None.
    # quiet: actions played since the last capture. result: final rewards or None.
    return {"board": board, "player": 0, "jumper": None, "quiet": 0, "result": None}


def _owner(piece: str) -> int | None:
    if piece in ("w", "W"):
        return 0
    if piece in ("b", "B"):
        return 1
    return None


def _piece_moves(board: list[str], row: int, col: int, player: int) -> tuple[list[str], list[str]]:
    """(simple moves, captures) of the piece on (row, col), as action strings."""
    piece = board[row][col]
    simple, captures = [], []
    for dr, dc in DIAGONALS:
        if piece == MEN[player] and dr != FORWARD[player]:
            continue  # men only move forward
        r1, c1 = row + dr, col + dc
        if not (0 <= r1 < SIZE and 0 <= c1 < SIZE):
            continue
        target = board[r1][c1]
        if target == ".":
            simple.append(_square(row, col) + _square(r1, c1))
        elif _owner(target) == 1 - player:
            r2, c2 = r1 + dr, c1 + dc
            if 0 <= r2 < SIZE and 0 <= c2 < SIZE and board[r2][c2] == ".":
                captures.append(_square(row, col) + _square(r2, c2))
    return simple, captures


def _legal(board: list[str], player: int, jumper: str | None, quiet: int) -> list[str]:
    if quiet >= MAX_QUIET:
        return []
    if jumper is not None:  # a multi-jump in progress: only that piece's captures
        return _piece_moves(board, *_coords(jumper), player)[1]
    simple, captures = [], []
    for row in range(SIZE):
        for col in range(SIZE):
            if _owner(board[row][col]) == player:
                s, c = _piece_moves(board, row, col, player)
                simple += s
                captures += c
    return captures if captures else simple  # capturing is compulsory


def get_current_player(state: State) -> int:
    return TERMINAL if state["result"] is not None else state["player"]


def get_player_name(player: int) -> str:
    return {0: "white", 1: "black", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    if state["result"] is not None:
        return []
    return _legal(state["board"], state["player"], state["jumper"], state["quiet"])


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in checkers


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player = state["player"]
    (r0, c0), (r1, c1) = _coords(action[:2]), _coords(action[2:])
    board = list(state["board"])  # rows are strings, so a shallow copy suffices

    def put(row: int, col: int, piece: str) -> None:
        board[row] = board[row][:col] + piece + board[row][col + 1:]

    piece = board[r0][c0]
    last_row = 0 if player == 0 else SIZE - 1
    crowned = piece == MEN[player] and r1 == last_row
    put(r0, c0, ".")
    put(r1, c1, KINGS[player] if crowned else piece)
    quiet = state["quiet"] + 1
    jumper = None
    if abs(r1 - r0) == 2:  # a capture: remove the jumped piece
        put((r0 + r1) // 2, (c0 + c1) // 2, ".")
        quiet = 0
        # The same piece keeps jumping if it can, unless it was just crowned.
        if not crowned and _piece_moves(board, r1, c1, player)[1]:
            jumper = _square(r1, c1)
    next_player = player if jumper else 1 - player
    result = None
    if not _legal(board, next_player, jumper, quiet):
        if quiet >= MAX_QUIET:
            result = [0.0, 0.0]  # 40 actions without a capture: draw
        else:  # the player to move cannot move (or has no pieces) and loses
            result = [1.0, -1.0] if next_player == 1 else [-1.0, 1.0]
    return {"board": board, "player": next_player, "jumper": jumper, "quiet": quiet, "result": result}


def get_rewards(state: State) -> list[float]:
    return list(state["result"]) if state["result"] is not None else [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything.
    obs = {
        "board": list(state["board"]),
        "to_move": get_current_player(state),
        "jumper": state["jumper"],
        "moves_without_capture": state["quiet"],
    }
    return [dict(obs), dict(obs)]
