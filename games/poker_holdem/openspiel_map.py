"""Our hold'em actions -> OpenSpiel `universal_poker` action ids.

Chance: card `deal(Rs)` is 4 * rank_index + suit_index with ranks "23456789TJQKA" and suits
"cdhs" (2c = 0, 2d = 1, ..., As = 51). Players: fold = 0, check or call = 1, raise = 2.
"""

RANKS = "23456789TJQKA"
SUITS = "cdhs"
PLAYER_ACTIONS = {"fold": 0, "check": 1, "call": 1, "raise": 2}


def to_openspiel(os_state, state, action: str) -> int:
    if action.startswith("deal("):
        return 4 * RANKS.index(action[5]) + SUITS.index(action[6])
    return PLAYER_ACTIONS[action]
