"""Our Goofspiel actions -> OpenSpiel's goofspiel(num_cards=13, points_order=random,
turn-based): "point=c" is chance outcome c - 1, "bid=c" is action c - 1."""


def to_openspiel(os_state, state, action: str) -> int:
    return int(action.split("=")[1]) - 1
