"""Our gin rummy actions -> OpenSpiel's `gin_rummy` ids (default parameters).

Cards are numbered suit * 13 + rank (suits s c d h, ranks A..K); a deal, a discard and a
layoff are the card's number; draw upcard 52, draw stock 53, pass 54, knock 55; a meld is
56 + OpenSpiel's meld id (65 sets first, by rank, then 120 runs by length, suit, rank).
"""

RANKS = "A23456789TJQK"
SUITS = "scdh"
SPECIAL = {"draw upcard": 52, "draw stock": 53, "pass": 54, "knock": 55}
MELD_BASE = 56


def _card(s: str) -> int:
    return SUITS.index(s[1]) * 13 + RANKS.index(s[0])


def meld_id(cards: list[int]) -> int:
    ranks = [c % 13 for c in cards]
    suits = [c // 13 for c in cards]
    if len(set(ranks)) == 1:  # a set
        if len(cards) == 4:
            return ranks[0] * 5 + 4
        missing = next(s for s in range(4) if s not in suits)
        return ranks[0] * 5 + missing
    low = min(ranks)
    offset = {3: 65, 4: 65 + 44, 5: 65 + 44 + 40}[len(cards)]
    return offset + suits[0] * (13 - len(cards) + 1) + low


def to_openspiel(os_state, state, action: str) -> int:
    if action in SPECIAL:
        return SPECIAL[action]
    word, arg = action.split()
    if word == "meld":
        return MELD_BASE + meld_id([_card(arg[i:i + 2]) for i in range(0, len(arg), 2)])
    return _card(arg)  # deal, discard, layoff
