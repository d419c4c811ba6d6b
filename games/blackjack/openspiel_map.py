"""Our blackjack actions -> OpenSpiel's blackjack: hit 0, stand 1; a card is its index in
the deck ordered clubs, diamonds, hearts, spades, each A 2 .. 9 T J Q K (e.g. "CA" 0, "DA" 13)."""

SUITS = "CDHS"
RANKS = "A23456789TJQK"


def to_openspiel(os_state, state, action: str) -> int:
    if action == "hit":
        return 0
    if action == "stand":
        return 1
    return 13 * SUITS.index(action[0]) + RANKS.index(action[1])
