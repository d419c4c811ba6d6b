"""Havannah on a hexagonal board of side 4 (37 cells) as a Game Code World Model.

Players alternately place a stone on an empty cell. A player wins by building a ring
(a loop of own stones around at least one cell), a bridge (a group touching two corners)
or a fork (a group touching three sides). A full board without a winner is a draw.

Cells are (row, col) with row and col in 0..6 and |row - col| <= 3. The neighbours of
(r, c) are (r, c-1), (r, c+1), (r-1, c-1), (r-1, c), (r+1, c), (r+1, c+1).
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIDE = 4
DIAMETER = 2 * SIDE - 1  # 7
MARKS = ("x", "o")  # player 0 plays x and moves first
STEPS = ((0, -1), (0, 1), (-1, -1), (-1, 0), (1, 0), (1, 1))


def _on_board(r: int, c: int) -> bool:
    return 0 <= r < DIAMETER and 0 <= c < DIAMETER and abs(r - c) < SIDE


CELLS = [(r, c) for r in range(DIAMETER) for c in range(DIAMETER) if _on_board(r, c)]
NEIGHBOURS = {
    (r, c): [(r + dr, c + dc) for dr, dc in STEPS if _on_board(r + dr, c + dc)] for r, c in CELLS
}
M = DIAMETER - 1
CORNERS = [(0, 0), (0, SIDE - 1), (SIDE - 1, M), (M, M), (M, SIDE - 1), (SIDE - 1, 0)]


def _side_of(r: int, c: int) -> int | None:
    """Which of the six sides (0-5) a border cell lies on; None for corners and inner cells."""
    if (r, c) in CORNERS:
        return None
    if r == 0:
        return 0  # top
    if c - r == SIDE - 1:
        return 1  # upper right
    if c == M:
        return 2  # lower right
    if r == M:
        return 3  # bottom
    if r - c == SIDE - 1:
        return 4  # lower left
    if c == 0:
        return 5  # upper left
    return None


SIDE_OF = {cell: _side_of(*cell) for cell in CELLS}
BORDER = [cell for cell in CELLS if len(NEIGHBOURS[cell]) < 6]  # corners and sides


def get_initial_state() -> State:
    return {
        "board": [["." for _ in range(DIAMETER)] for _ in range(DIAMETER)],  # off-board: "."
        "player": 0,
        "outcome": None,  # None while playing, then 0 / 1 (the winner) or "draw"
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
    board = state["board"]
    return [f"{MARKS[player]}({r},{c})" for r, c in CELLS if board[r][c] == "."]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Havannah


def _group(board: list[list[str]], start: tuple[int, int]) -> list[tuple[int, int]]:
    """All cells of the connected group of stones containing `start`."""
    mark = board[start[0]][start[1]]
    seen, stack = {start}, [start]
    while stack:
        for n in NEIGHBOURS[stack.pop()]:
            if n not in seen and board[n[0]][n[1]] == mark:
                seen.add(n)
                stack.append(n)
    return list(seen)


def _has_ring(board: list[list[str]], mark: str) -> bool:
    """Does `mark` have a loop of stones around at least one cell?

    A cell that is not `mark` is surrounded exactly when it cannot be reached from the
    border through cells that are not `mark`. A `mark` stone is surrounded when all six of
    its neighbours are `mark` stones (they form a loop around it).
    """
    reached = {cell for cell in BORDER if board[cell[0]][cell[1]] != mark}
    stack = list(reached)
    while stack:
        for n in NEIGHBOURS[stack.pop()]:
            if n not in reached and board[n[0]][n[1]] != mark:
                reached.add(n)
                stack.append(n)
    for r, c in CELLS:
        if board[r][c] != mark:
            if (r, c) not in reached:
                return True
        elif len(NEIGHBOURS[(r, c)]) == 6 and all(board[a][b] == mark for a, b in NEIGHBOURS[(r, c)]):
            return True
    return False


def _wins(board: list[list[str]], r: int, c: int) -> bool:
    """Does the stone just placed at (r, c) complete a bridge, a fork or a ring?"""
    group = _group(board, (r, c))
    corners = sum(1 for cell in group if cell in CORNERS)
    sides = {SIDE_OF[cell] for cell in group} - {None}
    if corners >= 2 or len(sides) >= 3:
        return True  # bridge or fork
    # A new ring must pass through the new stone, which then touches its group twice.
    return len(group) >= 6 and _has_ring(board, board[r][c])


def _parse(state: State, action: Action) -> tuple[int, int]:
    player = get_current_player(state)
    try:
        r, c = int(action[2]), int(action[4])
        ok = action == f"{MARKS[player]}({r},{c})" and _on_board(r, c) and state["board"][r][c] == "."
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
    moves = state["moves"] + 1
    if _wins(board, r, c):
        outcome = player
    elif moves == len(CELLS):
        outcome = "draw"
    else:
        outcome = None
    return {"board": board, "player": 1 - player, "outcome": outcome, "moves": moves}


def get_rewards(state: State) -> list[float]:
    outcome = state["outcome"]
    if outcome == 0:
        return [1.0, -1.0]
    if outcome == 1:
        return [-1.0, 1.0]
    return [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see every cell and whose turn it is.
    rows = [
        "".join(state["board"][r][c] for c in range(max(0, r - SIDE + 1), min(DIAMETER, r + SIDE)))
        for r in range(DIAMETER)
    ]
    obs = {"board": rows, "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
