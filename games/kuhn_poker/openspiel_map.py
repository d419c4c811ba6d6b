"""Our Kuhn poker actions -> OpenSpiel's kuhn_poker: deals J 0, Q 1, K 2; pass 0, bet 1."""


def to_openspiel(os_state, state, action: str) -> int:
    return {"J": 0, "Q": 1, "K": 2, "pass": 0, "bet": 1}[action]
