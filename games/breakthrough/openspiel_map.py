"""Our Breakthrough actions -> OpenSpiel's `breakthrough` (rows=8, columns=8).

OpenSpiel names its moves with the same squares (file a-h, rank 1-8 from the bottom, black
on ranks 7-8): "b7a6" for a move and "b7a6*" for a capture. Ours are "b7-a6" and "b7xa6".
"""


def to_openspiel(os_state, state, action: str) -> int:
    name = action[0:2] + action[3:5] + ("*" if action[2] == "x" else "")
    player = os_state.current_player()
    for a in os_state.legal_actions():
        if os_state.action_to_string(player, a) == name:
            return a
    raise ValueError(f"{action!r} ({name}) is not a legal OpenSpiel move")
