"""Our checkers actions ("c3d4", "c3e5") -> OpenSpiel's action ids.

OpenSpiel ranks (row, column, direction, move type) in mixed base (8, 8, 4, 2), with row 0
the top rank (8), directions 0 up-left, 1 up-right, 2 down-right, 3 down-left (rows grow
downwards) and move type 0 for a step, 1 for a jump. Its action strings are the same
from-square + to-square strings as ours.
"""

FILES = "abcdefgh"
DIRECTIONS = {(-1, -1): 0, (-1, 1): 1, (1, 1): 2, (1, -1): 3}


def to_openspiel(os_state, state, action: str) -> int:
    r0, c0 = 8 - int(action[1]), FILES.index(action[0])
    r1, c1 = 8 - int(action[3]), FILES.index(action[2])
    jump = abs(r1 - r0) == 2
    step = 2 if jump else 1
    direction = DIRECTIONS[((r1 - r0) // step, (c1 - c0) // step)]
    return ((r0 * 8 + c0) * 4 + direction) * 2 + int(jump)
