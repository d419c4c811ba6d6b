"""Our tic-tac-toe actions -> OpenSpiel's: cell (r, c) is action 3 * r + c."""


def to_openspiel(os_state, state, action: str) -> int:
    return 3 * int(action[2]) + int(action[4])
