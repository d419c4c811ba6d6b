"""Tic-tac-toe as a Game Code World Model.

Two players alternate placing their mark on a 3x3 board; three in a row, column or
diagonal wins. Cells are addressed as (row, column), both 0-2, row 0 at the top.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
MARKS = ("x", "o")  # player 0 plays x and moves first
LINES = [[(r, 0), (r, 1), (r, 2)] for r in range(3)]  # rows
LINES += [[(0, c), (1, c), (2, c)] for c in range(3)]  # columns
LINES += [[(0, 0), (1, 1), (2, 2)], [(0, 2), (1, 1), (2, 0)]]  # diagonals


def get_initial_state() -> State:
    return {"board": [["." for _ in range(3)] for _ in range(3)], "player": 0, "winner": None}


def _winner(board: list[list[str]]) -> int | None:
    for line in LINES:
        marks = {board[r][c] for r, c in line}
        if len(marks) == 1 and "." not in marks:
            return MARKS.index(marks.pop())
    return None


def _is_full(board: list[list[str]]) -> bool:
    return all(cell != "." for row in board for cell in row)


def get_current_player(state: State) -> int:
    if state["winner"] is not None or _is_full(state["board"]):
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    mark = MARKS[player]
    return [
        f"{mark}({r},{c})"
        for r in range(3)
        for c in range(3)
        if state["board"][r][c] == "."
    ]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in tic-tac-toe


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    r, c = int(action[2]), int(action[4])
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    board[r][c] = action[0]
    return {"board": board, "player": 1 - state["player"], "winner": _winner(board)}


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see the board and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
