"""Our Leduc poker actions -> OpenSpiel's leduc_poker (2 players): fold 0, call 1, raise 2;
cards Js 0, Jh 1, Qs 2, Qh 3, Ks 4, Kh 5 (OpenSpiel ranks a card as id // 2)."""

DECK = ["Js", "Jh", "Qs", "Qh", "Ks", "Kh"]
BETS = {"fold": 0, "call": 1, "raise": 2}


def to_openspiel(os_state, state, action: str) -> int:
    return BETS[action] if action in BETS else DECK.index(action)
