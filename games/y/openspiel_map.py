"""Our Y actions -> OpenSpiel's `y` (board_size=5).

OpenSpiel indexes cell (x, y) as x + 5 * y, where y is our row and x our column.
"""


def to_openspiel(os_state, state, action: str) -> int:
    return int(action[4]) + 5 * int(action[2])
