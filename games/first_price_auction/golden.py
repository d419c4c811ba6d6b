"""A first-price sealed-bid auction (two bidders) as a Game Code World Model.

Chance gives each bidder a private value for the item, 1..5 uniformly. Each then submits a
sealed bid below their value (player 0 first, hidden from player 1). The highest bid wins
the item and pays its bid; a tie is broken by a uniform chance draw among the highest
bidders (a final chance node that always happens, with a single outcome when there is no
tie). The winner's reward is value - bid, the loser's 0.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_PLAYERS = 2
MAX_VALUE = 5


def get_initial_state() -> State:
    # values[p] / bids[p]: None until drawn / made; winner: None until chosen.
    return {"values": [None] * NUM_PLAYERS, "bids": [None] * NUM_PLAYERS, "winner": None}


def _top_bidders(bids: list[int]) -> list[int]:
    return [p for p, b in enumerate(bids) if b == max(bids)]


def get_current_player(state: State) -> int:
    if None in state["values"]:
        return CHANCE  # drawing the private values
    if None in state["bids"]:
        return state["bids"].index(None)  # bidders in order 0, 1
    return CHANCE if state["winner"] is None else TERMINAL


def get_player_name(player: int) -> str:
    return {0: "bidder 0", 1: "bidder 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    if None in state["values"]:
        return [(f"value={v}", 1.0 / MAX_VALUE) for v in range(1, MAX_VALUE + 1)]
    top = _top_bidders(state["bids"])
    return [(f"winner={p}", 1.0 / len(top)) for p in top]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    return [f"bid={b}" for b in range(state["values"][player])]  # 0 .. value - 1


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    kind, number = action.split("=")
    new = {"values": list(state["values"]), "bids": list(state["bids"]), "winner": state["winner"]}
    if kind == "value":
        new["values"][new["values"].index(None)] = int(number)
    elif kind == "bid":
        new["bids"][new["bids"].index(None)] = int(number)
    else:
        new["winner"] = int(number)
    return new


def get_rewards(state: State) -> list[float]:
    rewards = [0.0] * NUM_PLAYERS
    winner = state["winner"]
    if winner is not None:
        rewards[winner] = float(state["values"][winner] - state["bids"][winner])
    return rewards


def get_observations(state: State) -> list[dict[str, Any]]:
    # Values stay private for ever; bids are revealed once everybody has bid.
    revealed = None not in state["bids"]
    to_move = get_current_player(state)
    return [
        {
            "my_value": state["values"][p],
            "my_bid": state["bids"][p],
            "bids": list(state["bids"]) if revealed else None,
            "winner": state["winner"],
            "to_move": to_move,
        }
        for p in range(NUM_PLAYERS)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # The game always runs: value 0, value 1, bid 0, bid 1, winner. Fill in what this
    # player saw, and draw the opponent's hidden value (above its bid, if the bids were
    # revealed) and hidden bid (below that value) at random.
    final = obs_action_history[-1]["observation"]
    steps = len(obs_action_history) - 1
    opponent = 1 - player_id
    values, bids = [None, None], [None, None]
    values[player_id], bids[player_id] = final["my_value"], final["my_bid"]
    if final["bids"] is not None:
        bids[opponent] = final["bids"][opponent]
    low = bids[opponent] + 1 if bids[opponent] is not None else 1
    values[opponent] = random.randint(low, MAX_VALUE)
    if bids[opponent] is None:
        bids[opponent] = random.randrange(values[opponent])
    full = [f"value={v}" for v in values] + [f"bid={b}" for b in bids]
    full.append(f"winner={final['winner']}")
    return full[:steps]
