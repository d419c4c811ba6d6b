"""Matching pennies as a Game Code World Model.

Two players each secretly choose heads or tails. Player 0 (the matcher) wins one point
if the two coins show the same side, player 1 (the mismatcher) wins if they differ. The
simultaneous choice is played as two turns: player 0 chooses first, then player 1, and
neither choice is shown to the other player until both coins are down.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SIDES = ["heads", "tails"]


def get_initial_state() -> State:
    # choices[p] is the side player p chose, or None while they have not chosen.
    return {"choices": [None, None]}


def get_current_player(state: State) -> int:
    choices = state["choices"]
    if choices[0] is None:
        return 0
    if choices[1] is None:
        return 1
    return TERMINAL


def get_player_name(player: int) -> str:
    return {0: "matcher", 1: "mismatcher", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    return [] if get_current_player(state) == TERMINAL else list(SIDES)


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # no chance in matching pennies


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    if player == TERMINAL or action not in SIDES:
        raise ValueError(f"illegal action {action!r}")
    choices = list(state["choices"])  # copy: never mutate the input state
    choices[player] = action
    return {"choices": choices}


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    match = state["choices"][0] == state["choices"][1]
    return [1.0, -1.0] if match else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Each player knows their own choice; the other coin is only revealed at the end.
    over = get_current_player(state) == TERMINAL
    choices = state["choices"]
    return [
        {
            "my_choice": choices[p],
            "opponent_choice": choices[1 - p] if over else None,
            "to_move": get_current_player(state),
        }
        for p in range(2)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Entry t has our own action when we moved at step t. The opponent's hidden coin is
    # known once the game is over (it is revealed); before that any side is consistent.
    final = obs_action_history[-1]["observation"]
    actions = []
    for entry in obs_action_history[:-1]:
        if entry["action"] is not None:
            actions.append(entry["action"])
        elif final["opponent_choice"] is not None:
            actions.append(final["opponent_choice"])
        else:
            actions.append(random.choice(SIDES))
    return actions
