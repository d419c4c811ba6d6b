"""Kuhn poker (two players) as a Game Code World Model.

A three-card deck (J < Q < K). Each player antes 1 chip and is dealt one private card
(two explicit chance nodes). One betting round: each player may pass or bet 1 chip; a
player facing a bet either calls ("bet") or folds ("pass"). Rewards are chips won or lost.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
CARDS = ["J", "Q", "K"]  # in increasing strength
# Betting sequences that end the game, and how: "showdown" or the player who folded.
ENDINGS = {
    "pass pass": "showdown",
    "bet bet": "showdown",
    "pass bet bet": "showdown",
    "bet pass": 1,  # player 1 folds to player 0's bet
    "pass bet pass": 0,  # player 0 folds to player 1's bet
}


def get_initial_state() -> State:
    # cards[p]: player p's private card (None until dealt); bets: betting actions in order.
    return {"cards": [None, None], "bets": []}


def _ending(state: State):
    return ENDINGS.get(" ".join(state["bets"]))


def get_current_player(state: State) -> int:
    if None in state["cards"]:
        return CHANCE
    if _ending(state) is not None:
        return TERMINAL
    return len(state["bets"]) % 2  # player 0 acts first, then turns alternate


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    left = [c for c in CARDS if c not in state["cards"]]
    return [(c, 1.0 / len(left)) for c in left]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [c for c, _ in get_chance_outcomes(state)]
    return ["pass", "bet"]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    if get_current_player(state) == CHANCE:
        cards = list(state["cards"])
        cards[cards.index(None)] = action  # player 0 is dealt first, then player 1
        return {"cards": cards, "bets": list(state["bets"])}
    return {"cards": list(state["cards"]), "bets": state["bets"] + [action]}


def _contributions(bets: list[str]) -> list[int]:
    """Chips each player has put in: the ante of 1, plus 1 for each "bet" (bet or call)."""
    put = [1, 1]
    for i, action in enumerate(bets):
        if action == "bet":
            put[i % 2] += 1
    return put


def get_rewards(state: State) -> list[float]:
    ending = _ending(state)
    if ending is None:
        return [0.0, 0.0]
    put = _contributions(state["bets"])
    if ending == "showdown":
        c0, c1 = (CARDS.index(c) for c in state["cards"])
        winner = 0 if c0 > c1 else 1
    else:
        winner = 1 - ending  # the player who did not fold
    loser = 1 - winner
    rewards = [0.0, 0.0]
    rewards[winner], rewards[loser] = float(put[loser]), float(-put[loser])
    return rewards


def get_observations(state: State) -> list[dict[str, Any]]:
    showdown = _ending(state) == "showdown"
    to_move = get_current_player(state)
    return [
        {
            "my_card": state["cards"][p],
            "opponent_card": state["cards"][1 - p] if showdown else None,
            "bets": list(state["bets"]),
            "to_move": to_move,
        }
        for p in range(2)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # The betting is public; only the opponent's card is hidden (unless shown down).
    # Rebuild the history: deals first (player 0's card, then player 1's), then bets.
    final = obs_action_history[-1]["observation"]
    mine, theirs = final["my_card"], final["opponent_card"]
    if theirs is None:
        theirs = random.choice([c for c in CARDS if c != mine])
    dealt = [None, None]
    dealt[player_id], dealt[1 - player_id] = mine, theirs
    num_steps = len(obs_action_history) - 1
    num_deals = min(num_steps, 2)
    return dealt[:num_deals] + list(final["bets"])
