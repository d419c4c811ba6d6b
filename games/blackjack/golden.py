"""Blackjack (one player against a fixed-strategy dealer) as a Game Code World Model.

One 52-card deck. The player and the dealer get two cards each (player, player, dealer,
dealer), every card an explicit chance outcome drawn uniformly from the cards left. The
dealer's first card is face down (the "hole card") until the player's turn is over. The
player hits or stands; then, unless the player has bust, the dealer draws while their
best total is 16 or less. Closest to 21 without going over wins (+1 / -1 / 0 for a tie).
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
PLAYER = 0
SUITS = "CDHS"
RANKS = "A23456789TJQK"
# The deck in a fixed order: clubs A..K, diamonds A..K, hearts A..K, spades A..K.
DECK = [suit + rank for suit in SUITS for rank in RANKS]
HIDDEN = "?"  # how the face-down hole card appears in the player's observation


def card_value(card: str) -> int:
    """Ace counts 1 here (it may be raised to 11 in `best_total`), T/J/Q/K count 10."""
    rank = card[1]
    if rank == "A":
        return 1
    if rank in "TJQK":
        return 10
    return int(rank)


def best_total(cards: list[str]) -> int:
    """The highest total not above 21 (one ace counted as 11 if that fits), else the hard total."""
    total = sum(card_value(c) for c in cards)
    if any(c[1] == "A" for c in cards) and total + 10 <= 21:
        return total + 10
    return total


def get_initial_state() -> State:
    # phase: "deal" (initial four cards), "player" (hit or stand), "hit" (a card for
    # the player), "dealer" (a card for the dealer) or "over".
    return {"player_cards": [], "dealer_cards": [], "phase": "deal"}


def get_current_player(state: State) -> int:
    phase = state["phase"]
    if phase == "over":
        return TERMINAL
    return PLAYER if phase == "player" else CHANCE


def get_player_name(player: int) -> str:
    return {PLAYER: "player", CHANCE: "chance", TERMINAL: "terminal"}[player]


def _remaining(state: State) -> list[str]:
    dealt = set(state["player_cards"]) | set(state["dealer_cards"])
    return [c for c in DECK if c not in dealt]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == PLAYER:
        return ["hit", "stand"]
    return _remaining(state)


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    cards = _remaining(state)
    return [(c, 1.0 / len(cards)) for c in cards]


def _dealer_next(player_cards: list[str], dealer_cards: list[str]) -> str:
    """The phase after the player's turn ended or the dealer got a card."""
    if best_total(player_cards) > 21:
        return "over"  # the player bust: the dealer does not play
    return "dealer" if best_total(dealer_cards) <= 16 else "over"


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    player_cards, dealer_cards = state["player_cards"], state["dealer_cards"]
    phase = state["phase"]
    if action == "hit":
        phase = "hit"
    elif action == "stand":
        phase = _dealer_next(player_cards, dealer_cards)
    elif phase == "deal":  # the initial deal: two cards to the player, then two to the dealer
        if len(player_cards) < 2:
            player_cards = player_cards + [action]
        else:
            dealer_cards = dealer_cards + [action]
        if len(dealer_cards) == 2:
            phase = "player"
    elif phase == "hit":
        player_cards = player_cards + [action]
        phase = "over" if best_total(player_cards) > 21 else "player"
    else:  # phase == "dealer"
        dealer_cards = dealer_cards + [action]
        phase = _dealer_next(player_cards, dealer_cards)
    # New lists were built with "+", so the input state is never modified.
    return {"player_cards": player_cards, "dealer_cards": dealer_cards, "phase": phase}


def get_rewards(state: State) -> list[float]:
    if state["phase"] != "over":
        return [0.0]
    mine, dealer = best_total(state["player_cards"]), best_total(state["dealer_cards"])
    if mine > 21:
        return [-1.0]
    if dealer > 21 or mine > dealer:
        return [1.0]
    return [-1.0] if mine < dealer else [0.0]


def _hole_card_hidden(state: State) -> bool:
    # The hole card stays face down during the deal and the player's turn.
    return state["phase"] in ("deal", "player", "hit")


def get_observations(state: State) -> list[dict[str, Any]]:
    dealer = list(state["dealer_cards"])
    if dealer and _hole_card_hidden(state):
        dealer[0] = HIDDEN
    return [{
        "my_cards": list(state["player_cards"]),
        "dealer_cards": dealer,
        "to_move": get_current_player(state),
    }]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Every card is seen by the player as it is dealt, except the dealer's hole card while
    # it is face down. Read each dealt card off the next observation; the hole card is
    # taken from the final observation if revealed, else drawn from the unseen cards.
    final = obs_action_history[-1]["observation"]
    seen = set(final["my_cards"]) | {c for c in final["dealer_cards"] if c != HIDDEN}
    hole = None
    if final["dealer_cards"]:
        hole = final["dealer_cards"][0]
        if hole == HIDDEN:
            hole = random.choice([c for c in DECK if c not in seen])
    actions = []
    for t, entry in enumerate(obs_action_history[:-1]):
        if entry["action"] is not None:
            actions.append(entry["action"])
            continue
        before, after = entry["observation"], obs_action_history[t + 1]["observation"]
        if len(after["my_cards"]) > len(before["my_cards"]):
            actions.append(after["my_cards"][-1])
        elif len(after["dealer_cards"]) == 1:  # the hole card was dealt
            actions.append(hole)
        else:
            actions.append(after["dealer_cards"][-1])
    return actions
