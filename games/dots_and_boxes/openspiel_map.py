"""Our Dots and Boxes actions -> OpenSpiel's `dots_and_boxes` (num_rows=2, num_cols=2 boxes).

OpenSpiel numbers the horizontal lines first, row by row (h(r,c) -> COLS * r + c, 0-5), then
the vertical lines row by row (v(r,c) -> (ROWS + 1) * COLS + (COLS + 1) * r + c, 6-11).
"""

ROWS, COLS = 2, 2  # boxes, as in meta.json's num_rows / num_cols


def to_openspiel(os_state, state, action: str) -> int:
    r, c = int(action[2]), int(action[4])
    if action[0] == "h":
        return COLS * r + c
    return (ROWS + 1) * COLS + (COLS + 1) * r + c
