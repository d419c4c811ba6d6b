"""Negotiation (item division, proposals only) as a Game Code World Model.

Chance deals, one value at a time: the number of proposal turns K (4-10, a Poisson(7)
distribution cut to 4..10), a public pool of three item types (0-5 of each) and each
player's private value for one unit of each item type (0-10). The players then alternate,
player 0 first, proposing how many of each item they keep; a player may instead accept the
opponent's last proposal. An accepted proposal pays each player the value of their share;
if K proposals pass without agreement, both get 0.
"""

import math
import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_ITEMS = 3
MAX_QUANTITY = 5
MAX_VALUE = 10
MIN_TURNS, MAX_TURNS, MEAN_TURNS = 4, 10, 7.0

_WEIGHTS = {k: MEAN_TURNS ** k / math.factorial(k) for k in range(MIN_TURNS, MAX_TURNS + 1)}
TURN_PROBS = {k: w / sum(_WEIGHTS.values()) for k, w in _WEIGHTS.items()}


def get_initial_state() -> State:
    return {
        "max_turns": None,     # K, the number of proposals allowed
        "pool": [],            # quantity of each item type (dealt one by one)
        "values": [[], []],    # each player's private value per unit of each item type
        "proposals": [],       # proposals so far; proposal i was made by player i % 2
        "agreed": False,
    }


def _deal_done(state: State) -> bool:
    return len(state["values"][1]) == NUM_ITEMS


def get_current_player(state: State) -> int:
    if not _deal_done(state):
        return CHANCE
    if state["agreed"] or len(state["proposals"]) >= state["max_turns"]:
        return TERMINAL
    return len(state["proposals"]) % 2


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if _deal_done(state):
        return []
    if state["max_turns"] is None:
        return [(f"turns({k})", p) for k, p in TURN_PROBS.items()]
    if len(state["pool"]) < NUM_ITEMS:
        return [(f"pool({q})", 1.0 / (MAX_QUANTITY + 1)) for q in range(MAX_QUANTITY + 1)]
    return [(f"value({v})", 1.0 / (MAX_VALUE + 1)) for v in range(MAX_VALUE + 1)]


def _proposals(pool: list[int]) -> list[list[int]]:
    """Every split [a, b, c] with 0 <= each <= the pool, in increasing lexicographic order."""
    out = [[]]
    for q in pool:
        out = [p + [x] for p in out for x in range(q + 1)]
    return out


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    actions = [f"propose({','.join(map(str, p))})" for p in _proposals(state["pool"])]
    if state["proposals"]:
        actions.append("accept")
    return actions


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy: lists we change are replaced, never mutated
    number = int(action[action.index("(") + 1:-1]) if action.startswith(("turns", "pool", "value")) else None
    if action.startswith("turns"):
        new["max_turns"] = number
    elif action.startswith("pool"):
        new["pool"] = state["pool"] + [number]
    elif action.startswith("value"):
        holder = 0 if len(state["values"][0]) < NUM_ITEMS else 1
        new["values"] = [list(v) for v in state["values"]]
        new["values"][holder].append(number)
    elif action == "accept":
        new["agreed"] = True
    else:
        new["proposals"] = state["proposals"] + [[int(x) for x in action[8:-1].split(",")]]
    return new


def get_rewards(state: State) -> list[float]:
    if not state["agreed"]:
        return [0.0, 0.0]
    proposal = state["proposals"][-1]
    proposer = (len(state["proposals"]) - 1) % 2
    rest = [q - k for q, k in zip(state["pool"], proposal)]
    rewards = [0.0, 0.0]
    rewards[proposer] = float(sum(v * k for v, k in zip(state["values"][proposer], proposal)))
    rewards[1 - proposer] = float(sum(v * k for v, k in zip(state["values"][1 - proposer], rest)))
    return rewards


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    return [
        {
            "to_move": to_move,
            "max_turns": state["max_turns"],
            "pool": list(state["pool"]),
            "my_values": list(state["values"][p]),
            "opponent_values_dealt": len(state["values"][1 - p]),
            "proposals": [list(x) for x in state["proposals"]],
            "agreed": state["agreed"],
        }
        for p in (0, 1)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    """Only the opponent's values are hidden; proposals do not constrain them (every
    proposal is always legal), so they are drawn uniformly. Everything else is replayed
    from the final observation."""
    final = obs_action_history[-1]["observation"]
    opponent_values = [random.randrange(MAX_VALUE + 1) for _ in range(final["opponent_values_dealt"])]
    values = [None, None]
    values[player_id], values[1 - player_id] = final["my_values"], opponent_values
    deal = [f"turns({final['max_turns']})"] if final["max_turns"] is not None else []
    deal += [f"pool({q})" for q in final["pool"]]
    deal += [f"value({v})" for v in values[0] + values[1]]
    play = [f"propose({','.join(map(str, p))})" for p in final["proposals"]]
    play += ["accept"] if final["agreed"] else []
    return (deal + play)[: len(obs_action_history) - 1]
