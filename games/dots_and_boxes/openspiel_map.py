"""Our Dots and Boxes actions -> OpenSpiel's `dots_and_boxes` (num_rows=3, num_cols=3).

OpenSpiel numbers the horizontal lines first, row by row (h(r,c) -> 3 * r + c, 0-11), then
the vertical lines row by row (v(r,c) -> 12 + 4 * r + c, 12-23).
"""


def to_openspiel(os_state, state, action: str) -> int:
    r, c = int(action[2]), int(action[4])
    return 3 * r + c if action[0] == "h" else 12 + 4 * r + c
