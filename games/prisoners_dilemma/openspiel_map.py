"""Our prisoner's-dilemma actions -> OpenSpiel's matrix_pd (turn-based): cooperate 0, defect 1."""


def to_openspiel(os_state, state, action: str) -> int:
    return {"cooperate": 0, "defect": 1}[action]
