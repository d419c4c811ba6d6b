"""Our Pentago actions -> OpenSpiel's `pentago`.

OpenSpiel's action id is (6 * row + column) * 8 + k, where k = 2 * quadrant + direction with
quadrants numbered clockwise from the top-left (0 top-left, 1 top-right, 2 bottom-right,
3 bottom-left) and direction 0 = counter-clockwise, 1 = clockwise.
"""

QUADRANT_INDEX = {"tl": 0, "tr": 1, "br": 2, "bl": 3}
DIRECTION_INDEX = {"ccw": 0, "cw": 1}


def to_openspiel(os_state, state, action: str) -> int:
    cell, quadrant, direction = action.split(":")
    r, c = int(cell[2]), int(cell[4])
    return (6 * r + c) * 8 + 2 * QUADRANT_INDEX[quadrant] + DIRECTION_INDEX[direction]
