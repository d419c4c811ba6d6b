"""Our Hanabi actions -> OpenSpiel's `hanabi` ids (players=2, colors=2, ranks=5, hand_size=3).

Player moves: discard i -> i, play i -> 3 + i, reveal color c -> 6 + c (R=0, Y=1),
reveal rank r -> 8 + (r - 1). Chance: deal <colour><rank> -> 5 * colour + (rank - 1).
"""

HAND_SIZE = 3
COLORS = "RY"
NUM_RANKS = 5


def to_openspiel(os_state, state, action: str) -> int:
    words = action.split()
    if words[0] == "deal":
        card = words[1]
        return NUM_RANKS * COLORS.index(card[0]) + int(card[1]) - 1
    if words[0] == "discard":
        return int(words[1])
    if words[0] == "play":
        return HAND_SIZE + int(words[1])
    if words[1] == "color":
        return 2 * HAND_SIZE + COLORS.index(words[2])
    return 2 * HAND_SIZE + len(COLORS) + int(words[2]) - 1
