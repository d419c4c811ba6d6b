"""Dots and Boxes (2x2 boxes) as a Game Code World Model.

A 3x3 grid of dots forms 2x2 boxes. Players take turns drawing one undrawn line between two
adjacent dots. Completing the fourth side of a box claims it and the same player moves
again. When all 12 lines are drawn, the player with more boxes wins; 2-2 is a draw.

Dots are (row, column), both 0-2, row 0 at the top. h(r,c) joins dots (r,c) and (r,c+1);
v(r,c) joins dots (r,c) and (r+1,c). Box (r,c), r and c in 0-1, is bounded by h(r,c),
h(r+1,c), v(r,c) and v(r,c+1).
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
ROWS, COLS = 2, 2  # boxes
NUM_LINES = (ROWS + 1) * COLS + ROWS * (COLS + 1)


def get_initial_state() -> State:
    return {
        "h": [[False] * COLS for _ in range(ROWS + 1)],  # h[r][c]: line h(r,c) drawn
        "v": [[False] * (COLS + 1) for _ in range(ROWS)],  # v[r][c]: line v(r,c) drawn
        "boxes": [[None] * COLS for _ in range(ROWS)],  # owner (0/1) of each box, None if open
        "scores": [0, 0],
        "player": 0,
        "lines": 0,  # lines drawn so far
    }


def get_current_player(state: State) -> int:
    if state["lines"] == NUM_LINES:
        return TERMINAL
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    if get_current_player(state) == TERMINAL:
        return []
    actions = [f"h({r},{c})" for r in range(ROWS + 1) for c in range(COLS) if not state["h"][r][c]]
    actions += [f"v({r},{c})" for r in range(ROWS) for c in range(COLS + 1) if not state["v"][r][c]]
    return actions


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in Dots and Boxes


def _closed(h: list[list[bool]], v: list[list[bool]], r: int, c: int) -> bool:
    """Are all four sides of box (r, c) drawn?"""
    return h[r][c] and h[r + 1][c] and v[r][c] and v[r][c + 1]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    kind, r, c = action[0], int(action[2]), int(action[4])
    h = [row[:] for row in state["h"]]  # copies: never mutate the input state
    v = [row[:] for row in state["v"]]
    if kind == "h":
        h[r][c] = True
        candidates = [(r - 1, c), (r, c)]  # the boxes above and below the line
    else:
        v[r][c] = True
        candidates = [(r, c - 1), (r, c)]  # the boxes left and right of the line
    player = state["player"]
    boxes = [row[:] for row in state["boxes"]]
    scores = list(state["scores"])
    claimed = False
    for br, bc in candidates:
        if 0 <= br < ROWS and 0 <= bc < COLS and _closed(h, v, br, bc):
            boxes[br][bc] = player
            scores[player] += 1
            claimed = True
    return {
        "h": h,
        "v": v,
        "boxes": boxes,
        "scores": scores,
        "player": player if claimed else 1 - player,  # completing a box earns another turn
        "lines": state["lines"] + 1,
    }


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    s0, s1 = state["scores"]
    if s0 == s1:
        return [0.0, 0.0]
    return [1.0, -1.0] if s0 > s1 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see every line, every claimed box and the score.
    def observe() -> dict[str, Any]:
        return {
            "horizontal": ["".join("-" if drawn else "." for drawn in row) for row in state["h"]],
            "vertical": ["".join("|" if drawn else "." for drawn in row) for row in state["v"]],
            "boxes": ["".join("." if o is None else str(o) for o in row) for row in state["boxes"]],
            "scores": list(state["scores"]),
            "to_move": get_current_player(state),
        }

    return [observe(), observe()]
