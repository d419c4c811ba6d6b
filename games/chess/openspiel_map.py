"""Our chess actions (UCI: "e2e4", "e1g1", "e7e8q") -> OpenSpiel's action ids.

OpenSpiel parses exactly this long algebraic form (castling as the king's two-square move).
"""


def to_openspiel(os_state, state, action: str) -> int:
    return os_state.parse_move_to_action(action)
