"""The game of Y on a triangular board of side 5 (15 cells) as a Game Code World Model.

Players alternately place a stone on an empty cell. The first player to build one
connected group of stones touching all three sides of the triangle wins (a corner cell
touches both of its sides). A full board always contains such a group, so there are no
draws.

Cells are (row, col) with row, col >= 0 and row + col <= 4; row 0 is the top side (5
cells) and row 4 the single bottom corner. The neighbours of (r, c) are (r, c-1),
(r, c+1), (r-1, c), (r-1, c+1), (r+1, c-1), (r+1, c).
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 5
MARKS = ("x", "o")  # player 0 plays x and moves first
STEPS = ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0))
CELLS = [(r, c) for r in range(SIZE) for c in range(SIZE - r)]


def _on_board(r: int, c: int) -> bool:
    return r >= 0 and c >= 0 and r + c < SIZE


NEIGHBOURS = {
    (r, c): [(r + dr, c + dc) for dr, dc in STEPS if _on_board(r + dr, c + dc)] for r, c in CELLS
}


def _sides(r: int, c: int) -> set[str]:
    """The sides of the triangle that cell (r, c) lies on (two for a corner)."""
    sides = set()
    if r == 0:
        sides.add("top")
    if c == 0:
        sides.add("left")
    if r + c == SIZE - 1:
        sides.add("right")
    return sides


SIDES = {cell: _sides(*cell) for cell in CELLS}


def get_initial_state() -> State:
    return {
        "board": [["."] * (SIZE - r) for r in range(SIZE)],  # board[r] has 5 - r cells
        "player": 0,
        "winner": None,
    }


def get_current_player(state: State) -> int:
    if state["winner"] is not None:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    board = state["board"]
    return [f"{MARKS[player]}({r},{c})" for r, c in CELLS if board[r][c] == "."]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Y


def _touches_all_sides(board: list[list[str]], start: tuple[int, int]) -> bool:
    """Does the group of stones containing `start` touch the three sides?"""
    mark = board[start[0]][start[1]]
    seen, stack = {start}, [start]
    sides = set(SIDES[start])
    while stack:
        for n in NEIGHBOURS[stack.pop()]:
            if n not in seen and board[n[0]][n[1]] == mark:
                seen.add(n)
                stack.append(n)
                sides |= SIDES[n]
    return len(sides) == 3


def _parse(state: State, action: Action) -> tuple[int, int]:
    player = get_current_player(state)
    try:
        r, c = int(action[2]), int(action[4])
        ok = (
            action == f"{MARKS[player]}({r},{c})"
            and _on_board(r, c)
            and state["board"][r][c] == "."
        )
    except (ValueError, IndexError, KeyError):
        ok = False
    if not ok:
        raise ValueError(f"illegal action {action!r}")
    return r, c


def apply_action(state: State, action: Action) -> State:
    r, c = _parse(state, action)  # raises ValueError if illegal
    player = state["player"]
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    board[r][c] = MARKS[player]
    winner = player if _touches_all_sides(board, (r, c)) else None
    return {"board": board, "player": 1 - player, "winner": winner}


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see every cell and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
