"""Battleship (small variant) as a Game Code World Model.

Each player secretly places two ships (lengths 2 and 3) on their own 5x5 grid, then the
players take turns shooting at the opponent's grid, at most 12 shots each, never the same
cell twice. A shot reports water, hit or sunk to the shooter. The game ends when a player
has lost both ships or both players have used all their shots. Player 0's reward is the
number of enemy ships they sank minus the number of their own ships that were sunk.

Cells are (row, column), both 0-4, row 0 at the top, column 0 at the left.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIZE = 5                 # the board is SIZE x SIZE
SHIPS = [2, 3]           # ship lengths, placed in this order
NUM_SHOTS = 12           # shots per player
PLACEMENTS = 2 * len(SHIPS)


def _ship_cells(placement: Action, length: int) -> list[list[int]]:
    """Cells of a ship of `length` placed by `placement` ('place_h(r,c)' / 'place_v(r,c)')."""
    r, c = int(placement[8]), int(placement[10])
    if placement[6] == "h":
        return [[r, c + k] for k in range(length)]
    return [[r + k, c] for k in range(length)]


def _all_placements(length: int) -> list[Action]:
    """Every in-board placement of a ship of `length`: horizontal ones row by row, then
    vertical ones row by row (the order of the legal actions)."""
    out = [f"place_h({r},{c})" for r in range(SIZE) for c in range(SIZE - length + 1)]
    out += [f"place_v({r},{c})" for r in range(SIZE - length + 1) for c in range(SIZE)]
    return out


def get_initial_state() -> State:
    return {
        "placements": [[], []],   # placement actions of each player, in order (ship i has length SHIPS[i])
        "ship_cells": [[], []],   # for each player, the cells [r, c] of each placed ship
        "shots": [[], []],        # cells [r, c] each player has shot at, in order
    }


def _num_placed(state: State) -> int:
    return len(state["placements"][0]) + len(state["placements"][1])


def _sunk(ship: list[list[int]], shots: list[list[int]]) -> bool:
    return all(cell in shots for cell in ship)


def _ships_sunk(state: State, owner: int) -> int:
    """How many of `owner`'s ships the opponent has sunk."""
    shots = state["shots"][1 - owner]
    return sum(_sunk(ship, shots) for ship in state["ship_cells"][owner])


def get_current_player(state: State) -> int:
    placed = _num_placed(state)
    if placed < PLACEMENTS:
        return placed % 2  # placements alternate, player 0 first
    fired = len(state["shots"][0]) + len(state["shots"][1])
    if fired == 2 * NUM_SHOTS:
        return TERMINAL
    if any(_ships_sunk(state, p) == len(SHIPS) for p in (0, 1)):
        return TERMINAL
    return fired % 2  # shots alternate, player 0 first


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if _num_placed(state) < PLACEMENTS:
        length = SHIPS[len(state["placements"][player])]
        taken = [cell for ship in state["ship_cells"][player] for cell in ship]
        return [
            a for a in _all_placements(length)
            if not any(cell in taken for cell in _ship_cells(a, length))
        ]
    shot = state["shots"][player]
    return [
        f"shoot({r},{c})" for r in range(SIZE) for c in range(SIZE) if [r, c] not in shot
    ]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance: the players place their own ships


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player = get_current_player(state)
    new = dict(state)  # shallow copy; only the lists we change are copied below
    if action.startswith("place"):
        length = SHIPS[len(state["placements"][player])]
        new["placements"] = [list(p) for p in state["placements"]]
        new["ship_cells"] = [list(s) for s in state["ship_cells"]]
        new["placements"][player].append(action)
        new["ship_cells"][player].append(_ship_cells(action, length))
    else:
        new["shots"] = [list(s) for s in state["shots"]]
        new["shots"][player].append([int(action[6]), int(action[8])])
    return new


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    lost0, lost1 = _ships_sunk(state, 0), _ships_sunk(state, 1)
    return [float(lost1 - lost0), float(lost0 - lost1)]


def _shot_results(shots: list[list[int]], ships: list[list[list[int]]]) -> list[list[Any]]:
    """[row, col, result] for each shot in order; result is 'water', 'hit' or 'sunk'
    ('sunk' when this shot hits the last intact cell of a ship)."""
    results, so_far = [], []
    for cell in shots:
        so_far.append(cell)
        result = "water"
        for ship in ships:
            if cell in ship:
                result = "sunk" if _sunk(ship, so_far) else "hit"
        results.append([cell[0], cell[1], result])
    return results


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    obs = []
    for p in (0, 1):
        q = 1 - p
        obs.append({
            "to_move": to_move,
            "my_ships": list(state["placements"][p]),
            "opponent_ships_placed": len(state["placements"][q]),
            "my_shots": _shot_results(state["shots"][p], state["ship_cells"][q]),
            "opponent_shots": _shot_results(state["shots"][q], state["ship_cells"][p]),
        })
    return obs


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    """A history consistent with what `player_id` saw: their own placements and shots are
    kept, the opponent's shots are known, and the opponent's hidden ship placements are
    drawn uniformly among those that give every one of the player's shots its observed
    result (water / hit / sunk)."""
    final = obs_action_history[-1]["observation"]
    opp = 1 - player_id
    n_opp_placed = final["opponent_ships_placed"]
    my_shots = final["my_shots"]

    # All ordered opponent fleets (one placement per ship placed so far), filtered by the
    # results of our shots.
    fleets: list[list[Action]] = [[]]
    for length in SHIPS[:n_opp_placed]:
        grown = []
        for fleet in fleets:
            taken = [cell for i, a in enumerate(fleet) for cell in _ship_cells(a, SHIPS[i])]
            for a in _all_placements(length):
                if not any(cell in taken for cell in _ship_cells(a, length)):
                    grown.append(fleet + [a])
        fleets = grown
    shots = [[r, c] for r, c, _ in my_shots]
    consistent = [
        f for f in fleets
        if _shot_results(shots, [_ship_cells(a, SHIPS[i]) for i, a in enumerate(f)]) == my_shots
    ]
    fleet = random.choice(consistent)

    # Rebuild the turn order: placements alternate (0, 1, 0, 1), then shots alternate.
    mine = [e["action"] for e in obs_action_history if e["action"] is not None]
    theirs = fleet + [f"shoot({r},{c})" for r, c, _ in final["opponent_shots"]]
    actions, state = [], get_initial_state()
    for _ in range(len(obs_action_history) - 1):
        source = mine if get_current_player(state) == player_id else theirs
        action = source.pop(0)
        actions.append(action)
        state = apply_action(state, action)
    return actions
