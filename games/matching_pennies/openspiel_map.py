"""Our matching-pennies actions -> OpenSpiel's matrix_mp (turn-based): heads 0, tails 1."""


def to_openspiel(os_state, state, action: str) -> int:
    return {"heads": 0, "tails": 1}[action]
