"""Breakthrough on an 8x8 board as a Game Code World Model.

Each player starts with two full rows of pieces. Pieces move one square forward, straight
or diagonally, and capture only diagonally. The first player to bring a piece onto the far
row -- or to capture every enemy piece -- wins.

Squares are named like chess squares: files a-h from left to right, ranks 1-8 from bottom
to top. Internally board[i][j] is rank 8 - i (row 0 is the top, rank 8) and file j.
Black (player 0) starts on ranks 8 and 7 and moves down; white (player 1) starts on ranks 1
and 2 and moves up.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 8
PIECES = ("b", "w")  # player 0 is black and moves first
FORWARD = (1, -1)  # row step of each player's forward direction (black moves down the rows)
FILES = "abcdefgh"


def get_initial_state() -> State:
    board = [["b"] * SIZE, ["b"] * SIZE]
    board += [["."] * SIZE for _ in range(SIZE - 4)]
    board += [["w"] * SIZE, ["w"] * SIZE]
    return {"board": board, "player": 0, "winner": None, "pieces": [2 * SIZE, 2 * SIZE]}


def _square(row: int, col: int) -> str:
    return f"{FILES[col]}{SIZE - row}"


def _parse_square(text: str) -> tuple[int, int]:
    return SIZE - int(text[1]), FILES.index(text[0])


def get_current_player(state: State) -> int:
    if state["winner"] is not None:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "black", 1: "white", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    board = state["board"]
    mine, theirs = PIECES[player], PIECES[1 - player]
    dr = FORWARD[player]
    actions = []
    for r in range(SIZE):  # from the top row down, left to right; then left-diag, straight, right-diag
        for c in range(SIZE):
            if board[r][c] != mine:
                continue
            r2 = r + dr
            if not 0 <= r2 < SIZE:
                continue
            for dc in (-1, 0, 1):
                c2 = c + dc
                if not 0 <= c2 < SIZE:
                    continue
                target = board[r2][c2]
                if target == ".":
                    actions.append(f"{_square(r, c)}-{_square(r2, c2)}")
                elif target == theirs and dc != 0:  # captures are diagonal only
                    actions.append(f"{_square(r, c)}x{_square(r2, c2)}")
    return actions


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Breakthrough


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player = state["player"]
    r1, c1 = _parse_square(action[0:2])
    r2, c2 = _parse_square(action[3:5])
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    pieces = list(state["pieces"])
    if action[2] == "x":
        pieces[1 - player] -= 1
    board[r2][c2] = board[r1][c1]
    board[r1][c1] = "."
    far_row = SIZE - 1 if player == 0 else 0
    winner = player if (r2 == far_row or pieces[1 - player] == 0) else None
    return {"board": board, "player": 1 - player, "winner": winner, "pieces": pieces}


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see the whole board and whose turn it is.
    obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}
    return [dict(obs), dict(obs)]
