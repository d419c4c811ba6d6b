"""Our Connect Four actions -> OpenSpiel's `connect_four`: dropping in column c is action c."""


def to_openspiel(os_state, state, action: str) -> int:
    return int(action[1])
