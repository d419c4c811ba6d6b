"""Quadranto, the seed's chase on a 4x4 grid with hidden positions, as a Game Code World Model.

Chance puts player 0 on a random cell of the top-left quadrant and player 1 on a random cell
of the bottom-right quadrant. The players then alternate (player 0 first): each steps Up,
Down, Left or Right inside the grid, or Stays. Stepping onto the opponent's cell catches it
and wins; after 20 moves without a catch the game is drawn. Each player sees its own cell
but only the quadrant of the opponent's, so resample_history has to invent the opponent's
start and moves: it keeps, state by state, every opponent cell consistent with what the
player saw, then walks back through those sets choosing at random.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 4
MAX_MOVES = 20
MOVES = {"Down": (1, 0), "Left": (0, -1), "Right": (0, 1), "Stay": (0, 0), "Up": (-1, 0)}


def quadrant(cell: list[int]) -> int:
    """1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right."""
    return 1 + 2 * (cell[0] // 2) + cell[1] // 2


CELLS = [[r, c] for r in range(SIZE) for c in range(SIZE)]
START = [[c for c in CELLS if quadrant(c) == q] for q in (1, 4)]  # player 0, player 1


def get_initial_state() -> State:
    # cells: each player's cell (None until placed); moves: moves played; winner: the catcher
    return {"cells": [None, None], "moves": 0, "winner": None}


def get_current_player(state: State) -> int:
    if None in state["cells"]:
        return CHANCE
    if state["winner"] is not None or state["moves"] >= MAX_MOVES:
        return TERMINAL
    return state["moves"] % 2


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def _step(cell: list[int], move: str) -> list[int] | None:
    """The cell after `move`, or None if it leaves the grid."""
    r, c = cell[0] + MOVES[move][0], cell[1] + MOVES[move][1]
    return [r, c] if 0 <= r < SIZE and 0 <= c < SIZE else None


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        p = state["cells"].index(None)
        return [f"place_p{p}:{r},{c}" for r, c in START[p]]
    return [m for m in MOVES if _step(state["cells"][player], m) is not None]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    return [(a, 0.25) for a in get_legal_actions(state)]  # 4 cells, uniform


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    cells = [None if c is None else c[:] for c in state["cells"]]  # copy: never mutate input
    if action.startswith("place_p"):
        cells[int(action[7])] = [int(action[9]), int(action[11])]
        return {"cells": cells, "moves": 0, "winner": None}
    player = state["moves"] % 2
    cells[player] = _step(cells[player], action)
    winner = player if cells[player] == cells[1 - player] else None
    return {"cells": cells, "moves": state["moves"] + 1, "winner": winner}


def get_rewards(state: State) -> list[float]:
    winner = state["winner"]
    if winner is None:
        return [0.0, 0.0]  # running, or drawn after 20 moves
    return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    if None in state["cells"]:
        return [{}, {}]  # nothing is shown while the tokens are being placed
    cells = state["cells"]
    return [
        {
            "cell": cells[p][:],
            "opponent_quadrant": quadrant(cells[1 - p]),
            "moves": state["moves"],
            "to_move": get_current_player(state),
            "caught": state["winner"] is not None,
        }
        for p in (0, 1)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    """A history consistent with player_id's view: a random opponent start and moves."""
    obs = [entry["observation"] for entry in obs_action_history]
    n_actions = len(obs) - 1
    me, opp = player_id, 1 - player_id
    mine = obs[2]["cell"] if len(obs) > 2 else random.choice(START[me])
    if n_actions <= 2:  # only placements so far
        opp_start = random.choice(START[opp])
        starts = [mine, opp_start] if me == 0 else [opp_start, mine]
        return [f"place_p{p}:{r},{c}" for p, (r, c) in enumerate(starts)][:n_actions]

    # back[t]: opponent cell at state t -> [(its cell at state t-1, the move)]
    back: list[dict[tuple, list]] = [{} for _ in obs]
    back[2] = {tuple(c): [] for c in START[opp]}
    for t in range(2, n_actions):
        there = obs[t + 1]
        for o in back[t]:
            if t % 2 == me:  # state t has moves = t - 2, so the mover is t % 2
                steps = [(o, obs_action_history[t]["action"])]  # the opponent stays put
            else:
                steps = [(tuple(new), m) for m in MOVES if (new := _step(list(o), m))]
            for nxt, move in steps:  # keep the cells that reproduce what the player saw next
                if (
                    quadrant(list(nxt)) == there["opponent_quadrant"]
                    and (list(nxt) == there["cell"]) == there["caught"]
                ):
                    back[t + 1].setdefault(nxt, []).append((o, move))
    if not back[n_actions]:
        raise ValueError("no history is consistent with these observations")

    cell, hidden = random.choice(sorted(back[n_actions])), []
    for t in range(n_actions, 2, -1):
        cell, move = random.choice(back[t][cell])
        hidden.append(move)
    starts = [mine, list(cell)] if me == 0 else [list(cell), mine]
    placements = [f"place_p{p}:{r},{c}" for p, (r, c) in enumerate(starts)]
    return placements + hidden[::-1]
