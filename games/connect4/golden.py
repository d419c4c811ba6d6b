"""Connect Four as a Game Code World Model.

Two players take turns dropping a disc into one of the 7 columns of an upright 6x7 grid;
the disc falls to the lowest empty cell of that column. Four of one's own discs in a line
(horizontal, vertical or diagonal) wins; a full grid without such a line is a draw.
Rows are numbered 0 (top) to 5 (bottom), columns 0 (left) to 6 (right).
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
ROWS, COLS, CONNECT = 6, 7, 4
MARKS = ("x", "o")  # player 0 plays x and moves first
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals


def get_initial_state() -> State:
    return {
        "board": [["." for _ in range(COLS)] for _ in range(ROWS)],  # board[0] is the top row
        "player": 0,
        "winner": None,  # 0 or 1 once someone has four in a line
        "moves": 0,  # discs played so far
    }


def _makes_line(board: list[list[str]], r: int, c: int) -> bool:
    """Does the disc just placed at (r, c) complete a line of four of its colour?"""
    mark = board[r][c]
    for dr, dc in DIRECTIONS:
        count = 1
        for sign in (1, -1):  # walk both ways along the direction
            rr, cc = r + sign * dr, c + sign * dc
            while 0 <= rr < ROWS and 0 <= cc < COLS and board[rr][cc] == mark:
                count += 1
                rr, cc = rr + sign * dr, cc + sign * dc
        if count >= CONNECT:
            return True
    return False


def get_current_player(state: State) -> int:
    if state["winner"] is not None or state["moves"] == ROWS * COLS:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    # a column is playable while its top cell is empty
    return [f"{MARKS[player]}{c}" for c in range(COLS) if state["board"][0][c] == "."]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Connect Four


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    c = int(action[1])
    r = max(row for row in range(ROWS) if state["board"][row][c] == ".")  # lowest empty cell
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
    # Perfect information: both players see the whole grid and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
