"""Our go actions -> OpenSpiel's: point "c2" (file c, rank 2) is 5 * (rank - 1) + file index;
"pass" is 25 (board_size ** 2). OpenSpiel names these "B c2" / "W PASS"."""

SIZE = 5


def to_openspiel(os_state, state, action: str) -> int:
    if action == "pass":
        return SIZE * SIZE
    return (int(action[1:]) - 1) * SIZE + "abcde".index(action[0])
