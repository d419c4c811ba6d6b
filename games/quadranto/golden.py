"""Quadranto: hide-and-seek on a 4x4 grid, as a Game Code World Model.

The hider (player 1) secretly picks a start cell, then the seeker (player 0) and the hider
alternate. The seeker walks, searches the cells around them, or scans one of the four 2x2
quadrants; the hider stays put or steps to a neighbouring cell without being seen. The seeker
wins by catching the hider within 12 turns; otherwise the hider wins.

Cells are (row, col), both 0-3, row 0 at the top. Quadrant q covers rows 2*(q//2) .. +1
and columns 2*(q%2) .. +1: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SEEKER, HIDER = 0, 1
SIZE = 4
SEEKER_TURNS = 12
SEEKER_START = [0, 0]
DIRECTIONS = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}  # listed in this order


def _quadrant(cell: list[int]) -> int:
    return 2 * (cell[0] // 2) + cell[1] // 2


def _step(cell: list[int], d: str) -> list[int] | None:
    """The neighbour of `cell` in direction `d`, or None off the board."""
    r, c = cell[0] + DIRECTIONS[d][0], cell[1] + DIRECTIONS[d][1]
    return [r, c] if 0 <= r < SIZE and 0 <= c < SIZE else None


def _distance(a: list[int], b: list[int]) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def get_initial_state() -> State:
    return {
        "seeker": list(SEEKER_START),  # public position of the seeker
        "hider": None,                 # hidden position of the hider (None before hiding)
        "seeker_log": [],              # "<action>:<yes|no>" for every seeker action
        "hider_log": [],               # the hider's own actions, starting with hide(r,c)
        "caught": False,
    }


def get_current_player(state: State) -> int:
    if state["caught"] or len(state["seeker_log"]) == SEEKER_TURNS:
        return TERMINAL
    if len(state["hider_log"]) > len(state["seeker_log"]):
        return SEEKER
    return HIDER  # the hider hides first, then answers each seeker turn


def get_player_name(player: int) -> str:
    return {SEEKER: "seeker", HIDER: "hider", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    seeker = state["seeker"]
    if player == SEEKER:
        moves = [f"move({d})" for d in DIRECTIONS if _step(seeker, d) is not None]
        return moves + ["search"] + [f"scan({q})" for q in range(4)]
    if state["hider"] is None:  # the start cell: anywhere outside the seeker's quadrant
        return [
            f"hide({r},{c})" for r in range(SIZE) for c in range(SIZE)
            if _quadrant([r, c]) != _quadrant(seeker)
        ]
    moves = [
        f"move({d})" for d in DIRECTIONS
        if (cell := _step(state["hider"], d)) is not None and cell != seeker
    ]
    return ["stay"] + moves


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy: the lists we change are replaced, not mutated
    if get_current_player(state) == HIDER:
        if action.startswith("hide"):
            new["hider"] = [int(action[5]), int(action[7])]
        elif action.startswith("move"):
            new["hider"] = _step(state["hider"], action[5])
        new["hider_log"] = state["hider_log"] + [action]
        return new
    hider = state["hider"]
    if action.startswith("move"):
        new["seeker"] = _step(state["seeker"], action[5])
        found = new["seeker"] == hider
    elif action == "search":
        found = _distance(state["seeker"], hider) <= 1
    else:  # scan(q)
        found = _quadrant(hider) == int(action[5])
    new["seeker_log"] = state["seeker_log"] + [f"{action}:{'yes' if found else 'no'}"]
    new["caught"] = found and not action.startswith("scan")  # a scan only informs
    return new


def get_rewards(state: State) -> list[float]:
    if state["caught"]:
        return [1.0, -1.0]
    if get_current_player(state) == TERMINAL:
        return [-1.0, 1.0]
    return [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    public = {
        "to_move": get_current_player(state),
        "seeker": list(state["seeker"]),
        "seeker_log": list(state["seeker_log"]),
    }
    hider_obs = dict(public, hider=None if state["hider"] is None else list(state["hider"]),
                     hider_log=list(state["hider_log"]))
    return [public, hider_obs]


def _consistent(entry: str, seeker_before: list[int], hider: list[int]) -> bool:
    """Would the seeker action logged as `entry` give its logged result with the hider on
    `hider` (and the seeker on `seeker_before` before acting)?"""
    action, result = entry.split(":")
    if action.startswith("move"):
        found = _step(seeker_before, action[5]) == hider
    elif action == "search":
        found = _distance(seeker_before, hider) <= 1
    else:
        found = _quadrant(hider) == int(action[5])
    return found == (result == "yes")


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    """The seeker's history is public; only the hider's cells are hidden. The hider knows
    everything, so its own history is rebuilt exactly. For the seeker, the hider's path is
    drawn by forward filtering (the cells the hider can be in after each of its actions,
    given every seeker result) and backward sampling (a random path through those sets)."""
    final = obs_action_history[-1]["observation"]
    seeker_actions = [e.split(":")[0] for e in final["seeker_log"]]
    n_steps = len(obs_action_history) - 1
    if player_id == HIDER:
        hider_actions = list(final["hider_log"])
    else:
        hider_actions = _sample_hider_actions(final["seeker_log"], n_steps)
    actions = []
    for t in range(n_steps):  # hide, seeker, hider, seeker, hider, ...
        source = hider_actions if t % 2 == 0 else seeker_actions
        actions.append(source[t // 2 if t % 2 == 0 else (t - 1) // 2])
    return actions


def _sample_hider_actions(seeker_log: list[str], n_steps: int) -> list[Action]:
    n_hider = (n_steps + 1) // 2  # hider acted at steps 0, 2, 4, ...
    if n_hider == 0:
        return []
    # Seeker positions before each seeker action (public).
    seeker_at = [list(SEEKER_START)]
    for entry in seeker_log:
        action = entry.split(":")[0]
        seeker_at.append(_step(seeker_at[-1], action[5]) if action.startswith("move") else seeker_at[-1])
    cells = [[r, c] for r in range(SIZE) for c in range(SIZE)]

    def moves_from(cell: list[int], seeker: list[int]) -> list[tuple[str, list[int]]]:
        out = [("stay", cell)]
        for d in DIRECTIONS:
            nxt = _step(cell, d)
            if nxt is not None and nxt != seeker:
                out.append((f"move({d})", nxt))
        return out

    # sets[k]: cells the hider can occupy right after its k-th action (k = 0 is hide),
    # consistent with all seeker results up to that point and with seeker action k's result.
    def ok_after(k: int, cell: list[int]) -> bool:
        return k >= len(seeker_log) or _consistent(seeker_log[k], seeker_at[k], cell)

    sets = [[c for c in cells if _quadrant(c) != _quadrant(SEEKER_START) and ok_after(0, c)]]
    for k in range(1, n_hider):
        reach = []
        for cell in sets[-1]:
            for _, nxt in moves_from(cell, seeker_at[k]):
                if nxt not in reach and ok_after(k, nxt):
                    reach.append(nxt)
        sets.append(reach)
    # Backward sampling.
    cell = random.choice(sets[-1])
    actions = []
    for k in range(n_hider - 1, 0, -1):
        options = [(a, prev) for prev in sets[k - 1] for a, nxt in moves_from(prev, seeker_at[k]) if nxt == cell]
        action, cell = random.choice(options)
        actions.append(action)
    actions.append(f"hide({cell[0]},{cell[1]})")
    return actions[::-1]
