"""The prisoner's dilemma (one round) as a Game Code World Model.

Each of two players secretly chooses to cooperate or defect, and each is paid according
to the pair of choices (the textbook payoffs 3/0/5/1, as the seed's rules state). The simultaneous choice is
played as two turns, player 0 first; a choice stays hidden until both are made.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
MOVES = ["cooperate", "defect"]
# PAYOFFS[(move of player 0, move of player 1)] = [payoff of player 0, payoff of player 1]
PAYOFFS = {
    ("cooperate", "cooperate"): [3.0, 3.0],
    ("cooperate", "defect"): [0.0, 5.0],
    ("defect", "cooperate"): [5.0, 0.0],
    ("defect", "defect"): [1.0, 1.0],
}


def get_initial_state() -> State:
    # moves: the choices made so far, in turn order (player 0's first).
    return {"moves": []}


def get_current_player(state: State) -> int:
    made = len(state["moves"])
    return made if made < 2 else TERMINAL


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    return list(MOVES) if get_current_player(state) != TERMINAL else []


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    return []  # the prisoner's dilemma has no chance


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    return {"moves": state["moves"] + [action]}  # a new list: the input is untouched


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    return list(PAYOFFS[tuple(state["moves"])])


def get_observations(state: State) -> list[dict[str, Any]]:
    moves = state["moves"]
    over = len(moves) == 2
    to_move = get_current_player(state)
    observations = []
    for p in range(2):
        mine = moves[p] if p < len(moves) else None
        theirs = moves[1 - p] if over else None  # hidden until both have chosen
        observations.append({"my_move": mine, "opponent_move": theirs, "to_move": to_move})
    return observations


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Our own move is in the history; the opponent's is revealed in the final
    # observation if the game is over, and otherwise can be either move.
    revealed = obs_action_history[-1]["observation"]["opponent_move"]
    history = []
    for entry in obs_action_history[:-1]:
        if entry["action"] is not None:
            history.append(entry["action"])
        else:
            history.append(revealed if revealed is not None else random.choice(MOVES))
    return history
