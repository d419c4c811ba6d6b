"""Our Breakthrough actions -> OpenSpiel's `breakthrough` (rows=6, columns=6).

OpenSpiel names its moves with the same squares (file a-f, rank 1-6 from the bottom, black
on ranks 5-6): "b5a4" for a move and "b5a4*" for a capture. Ours are "b5-a4" and "b5xa4".
"""


def to_openspiel(os_state, state, action: str) -> int:
    name = action[0:2] + action[3:5] + ("*" if action[2] == "x" else "")
    player = os_state.current_player()
    for a in os_state.legal_actions():
        if os_state.action_to_string(player, a) == name:
            return a
    raise ValueError(f"{action!r} ({name}) is not a legal OpenSpiel move")
