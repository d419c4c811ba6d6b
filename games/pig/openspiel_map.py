"""Our Pig actions -> OpenSpiel's pig(winscore=100, horizon=200): roll 0, stop 1; a die face f
is chance outcome f - 1."""


def to_openspiel(os_state, state, action: str) -> int:
    if action == "roll":
        return 0
    if action == "stop":
        return 1
    return int(action.split("=")[1]) - 1
