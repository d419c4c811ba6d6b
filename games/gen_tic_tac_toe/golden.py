"""Generalised tic-tac-toe (an m,n,k-game) as a Game Code World Model.

Two players alternate placing their mark on any empty cell of a 6x6 board; the first to
have four (or more) of their marks in a line -- a row, a column or a diagonal -- wins.
A full board without such a line is a draw. Cells are (row, column), both 0-5, row 0 at
the top and column 0 at the left.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE, CONNECT = 6, 4
MARKS = ("x", "o")  # player 0 plays x and moves first
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # row, column, two diagonals


def get_initial_state() -> State:
    return {
        "board": [["." for _ in range(SIZE)] for _ in range(SIZE)],
        "player": 0,
        "winner": None,  # 0 or 1 once someone has four in a line
        "moves": 0,  # marks placed so far
    }


def _makes_line(board: list[list[str]], r: int, c: int) -> bool:
    """Does the mark just placed at (r, c) lie on a line of four or more of its kind?"""
    mark = board[r][c]
    for dr, dc in DIRECTIONS:
        count = 1
        for sign in (1, -1):  # extend both ways from the new mark
            rr, cc = r + sign * dr, c + sign * dc
            while 0 <= rr < SIZE and 0 <= cc < SIZE and board[rr][cc] == mark:
                count += 1
                rr, cc = rr + sign * dr, cc + sign * dc
        if count >= CONNECT:
            return True
    return False


def get_current_player(state: State) -> int:
    if state["winner"] is not None or state["moves"] == SIZE * SIZE:
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
    return [f"{mark}({r},{c})" for r in range(SIZE) for c in range(SIZE) if board[r][c] == "."]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    r, c = int(action[2]), int(action[4])
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    board[r][c] = action[0]
    player = state["player"]
    return {
        "board": board,
        "player": 1 - player,
        "winner": player if _makes_line(board, r, c) else None,
        "moves": state["moves"] + 1,
    }


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see the whole board and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
