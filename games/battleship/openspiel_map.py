"""Our battleship actions -> OpenSpiel's `battleship` action ids (5x5 board).

OpenSpiel numbers a shot at (r, c) as 5*r + c (0-24), a horizontal placement with its
left end at (r, c) as 25 + 5*r + c, and a vertical one with its top end at (r, c) as
50 + 5*r + c.
"""


def to_openspiel(os_state, state, action: str) -> int:
    if action.startswith("shoot"):
        return 5 * int(action[6]) + int(action[8])
    base = 25 if action[6] == "h" else 50
    return base + 5 * int(action[8]) + int(action[10])
