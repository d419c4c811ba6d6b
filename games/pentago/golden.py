"""Pentago as a Game Code World Model.

A 6x6 board made of four 3x3 quadrants. On a turn a player places a marble on an empty cell
and then must rotate one quadrant a quarter turn, clockwise or counter-clockwise. Five in a
row (after the rotation) wins; if the rotation gives both players five in a row, or the
board fills up, it is a draw. Cells are (row, column), both 0-5, row 0 at the top.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 6
MARKS = ("x", "o")  # player 0 plays x and moves first
# Top-left cell (row, column) of each quadrant.
QUADRANTS = {"tl": (0, 0), "tr": (0, 3), "bl": (3, 0), "br": (3, 3)}
DIRECTIONS = ("cw", "ccw")


def _lines() -> list[list[tuple[int, int]]]:
    """Every run of five cells in a row, column or diagonal of the 6x6 board (32 of them)."""
    lines = []
    for r in range(SIZE):
        for c in range(SIZE):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(5)]
                if all(0 <= rr < SIZE and 0 <= cc < SIZE for rr, cc in cells):
                    lines.append(cells)
    return lines


LINES = _lines()


def get_initial_state() -> State:
    return {
        "board": [["." for _ in range(SIZE)] for _ in range(SIZE)],
        "player": 0,
        "outcome": None,  # None while playing; then 0 or 1 (the winner) or "draw"
        "moves": 0,
    }


def get_current_player(state: State) -> int:
    if state["outcome"] is not None:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    mark = MARKS[player]
    board = state["board"]
    return [
        f"{mark}({r},{c}):{q}:{d}"
        for r in range(SIZE)
        for c in range(SIZE)
        if board[r][c] == "."
        for q in QUADRANTS
        for d in DIRECTIONS
    ]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Pentago


def _parse(state: State, action: Action) -> tuple[int, int, str, str]:
    """(row, col, quadrant, direction) of a legal action; ValueError otherwise."""
    player = get_current_player(state)
    try:
        cell, quadrant, direction = action.split(":")
        r, c = int(cell[2]), int(cell[4])
        well_formed = cell == f"{MARKS[player]}({r},{c})"
    except (ValueError, IndexError, KeyError):
        well_formed = False
    if (
        not well_formed
        or not (0 <= r < SIZE and 0 <= c < SIZE)
        or state["board"][r][c] != "."
        or quadrant not in QUADRANTS
        or direction not in DIRECTIONS
    ):
        raise ValueError(f"illegal action {action!r}")
    return r, c, quadrant, direction


def _rotate(board: list[list[str]], quadrant: str, direction: str) -> None:
    """Rotate one 3x3 quadrant of `board` (a fresh copy) a quarter turn in place."""
    r0, c0 = QUADRANTS[quadrant]
    old = [[board[r0 + i][c0 + j] for j in range(3)] for i in range(3)]
    for i in range(3):
        for j in range(3):
            # clockwise: the left column becomes the top row; counter-clockwise: the reverse
            board[r0 + i][c0 + j] = old[2 - j][i] if direction == "cw" else old[j][2 - i]


def _has_five(board: list[list[str]], mark: str) -> bool:
    return any(all(board[r][c] == mark for r, c in line) for line in LINES)


def apply_action(state: State, action: Action) -> State:
    r, c, quadrant, direction = _parse(state, action)  # raises ValueError if illegal
    player = state["player"]
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    board[r][c] = MARKS[player]
    _rotate(board, quadrant, direction)
    moves = state["moves"] + 1
    x_wins, o_wins = _has_five(board, "x"), _has_five(board, "o")
    if x_wins and o_wins:
        outcome = "draw"  # the rotation completed a five for both players
    elif x_wins:
        outcome = 0
    elif o_wins:
        outcome = 1
    elif moves == SIZE * SIZE:
        outcome = "draw"  # full board
    else:
        outcome = None
    return {"board": board, "player": 1 - player, "outcome": outcome, "moves": moves}


def get_rewards(state: State) -> list[float]:
    outcome = state["outcome"]
    if outcome == 0:
        return [1.0, -1.0]
    if outcome == 1:
        return [-1.0, 1.0]
    return [0.0, 0.0]  # unfinished or drawn


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see the whole board and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
