"""Our actions -> OpenSpiel's `mnk` (m=n=6, k=4): cell (r, c) is action 6 * r + c."""


def to_openspiel(os_state, state, action: str) -> int:
    return 6 * int(action[2]) + int(action[4])
