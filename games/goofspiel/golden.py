"""Goofspiel with 13 cards (two players) as a Game Code World Model.

Each player holds the cards 1..13. A deck of point cards 1..13 is turned over one card a
round in random order (a chance node). Each round both players bid one of their cards
(player 0 first, the bid hidden from player 1 until the round ends); the higher bid wins
the point card's value, equal bids win nothing. Bids are revealed at the end of the
round. The last (13th) round is forced (one card left everywhere) and is played
automatically.
More points wins: +1 / -1, equal points a draw.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_CARDS = 13
CARDS = list(range(1, NUM_CARDS + 1))


def get_initial_state() -> State:
    return {
        "hands": [list(CARDS), list(CARDS)],  # cards each player can still bid
        "point_cards": [],  # point cards turned over so far, in order
        "bids": [],  # finished rounds: [bid of player 0, bid of player 1]
        "pending": [],  # bids made in the current round (player 0's, if any)
        "points": [0, 0],
    }


def get_current_player(state: State) -> int:
    if len(state["bids"]) == NUM_CARDS:
        return TERMINAL
    if len(state["point_cards"]) == len(state["bids"]):
        return CHANCE  # the next point card must be turned over
    return len(state["pending"])


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    left = [c for c in CARDS if c not in state["point_cards"]]
    return [(f"point={c}", 1.0 / len(left)) for c in left]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    return [f"bid={c}" for c in state["hands"][player]]


def _finish_round(state: State, bids: list[int]) -> None:
    """Score the round with these two bids; updates the (already copied) state."""
    point = state["point_cards"][-1]
    if bids[0] != bids[1]:
        state["points"][0 if bids[0] > bids[1] else 1] += point
    for p in range(2):
        state["hands"][p].remove(bids[p])
    state["bids"].append(bids)
    state["pending"] = []


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    kind, number = action.split("=")
    new = {
        "hands": [list(h) for h in state["hands"]],
        "point_cards": list(state["point_cards"]),
        "bids": [list(b) for b in state["bids"]],
        "pending": list(state["pending"]),
        "points": list(state["points"]),
    }
    if kind == "point":
        new["point_cards"].append(int(number))
        return new
    new["pending"].append(int(number))
    if len(new["pending"]) == 2:
        _finish_round(new, new["pending"])
        if len(new["bids"]) == NUM_CARDS - 1:
            # The last round has no choice: the last point card and each player's last
            # card are played automatically.
            new["point_cards"].append(next(c for c in CARDS if c not in new["point_cards"]))
            _finish_round(new, [new["hands"][0][0], new["hands"][1][0]])
    return new


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    a, b = state["points"]
    if a == b:
        return [0.0, 0.0]
    return [1.0, -1.0] if a > b else [-1.0, 1.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    observations = []
    for p in range(2):
        finished = [b[p] for b in state["bids"]]
        pending = state["pending"][:1] if p == 0 else []  # own bid, not yet revealed
        observations.append({
            # a bid card leaves the hand at once, although the round is scored later
            "my_hand": [c for c in state["hands"][p] if c not in pending],
            "my_bids": finished + pending,
            "opponent_bids": [b[1 - p] for b in state["bids"]],  # revealed rounds only
            "point_cards": list(state["point_cards"]),
            "points": list(state["points"]),
            "to_move": to_move,
        })
    return observations


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Everything is public once a round ends; the one hidden thing is player 0's bid in
    # the current round, seen from player 1. Rebuild the rounds (point card, bid of
    # player 0, bid of player 1) and cut the list to the history's length.
    final = obs_action_history[-1]["observation"]
    steps = len(obs_action_history) - 1
    opponent = 1 - player_id
    bids_by_player = [None, None]
    bids_by_player[player_id] = list(final["my_bids"])
    bids_by_player[opponent] = list(final["opponent_bids"])
    if len(bids_by_player[0]) < len(final["point_cards"]):  # player 0's hidden bid
        left = [c for c in CARDS if c not in bids_by_player[0]]
        bids_by_player[0].append(random.choice(left))
    actions = []
    for r, point in enumerate(final["point_cards"][: NUM_CARDS - 1]):
        actions.append(f"point={point}")
        for p in range(2):
            if r < len(bids_by_player[p]):
                actions.append(f"bid={bids_by_player[p][r]}")
    return actions[:steps]
