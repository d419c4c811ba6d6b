"""Our auction actions -> OpenSpiel's first_sealed_auction(players=2, max_value=5):
"value=v" is chance outcome v, "bid=b" is action b, "winner=p" is chance outcome p."""


def to_openspiel(os_state, state, action: str) -> int:
    return int(action.split("=")[1])
