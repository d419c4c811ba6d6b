"""Our backgammon actions -> OpenSpiel `backgammon` action ids.

Chance: the opening outcomes alternate x_starts(a,b), o_starts(b,a) over the 15 non-double
pairs a < b in the order (1,2), (1,3), ..., (5,6): x_starts(a,b) is 2k and o_starts(b,a) is
2k + 1 for the k-th pair. Later rolls are ids 0-35 in our ROLLS order: (1,2), (2,1), (1,3),
(3,1), ..., (5,6), (6,5), then (1,1) ... (6,6).

Moves: OpenSpiel encodes the two checker moves of an action by their start points and by
which die is played first. We decode each legal OpenSpiel id with
`spiel_move_to_checker_moves` and write it in our notation, so an id is found by its
string. OpenSpiel's absolute point a is x's point 24 - a and o's point a + 1 (the bar is 100).
"""

NON_DOUBLES = [(a, b) for a in range(1, 7) for b in range(a + 1, 7)]
ROLLS = [r for a, b in NON_DOUBLES for r in ((a, b), (b, a))] + [(a, a) for a in range(1, 7)]
OS_BAR = 100  # kBarPos, as spiel_move_to_checker_moves reports it


def _leg(player: int, pos: int, num: int) -> str | None:
    if pos < 0 or num < 1:
        return None  # a pass half
    start = 25 if pos == OS_BAR else (24 - pos if player == 0 else pos + 1)
    end = start - num
    return f"{'bar' if start == 25 else start}/{f'off({num})' if end <= 0 else end}"


def _our_string(os_state, player: int, action: int) -> str:
    legs = [_leg(player, m.pos, m.num) for m in os_state.spiel_move_to_checker_moves(player, action)]
    legs = [leg for leg in legs if leg]
    return " ".join(legs) if legs else "pass"


def to_openspiel(os_state, state, action: str) -> int:
    if action.startswith(("x_starts", "o_starts")):
        a, b = int(action[-4]), int(action[-2])
        return 2 * NON_DOUBLES.index((min(a, b), max(a, b))) + action.startswith("o_")
    if action.startswith("roll"):
        return ROLLS.index((int(action[-4]), int(action[-2])))
    key = os_state.history_str()
    if _cache.get("key") != key:  # decode OpenSpiel's legal actions once per position
        player = os_state.current_player()
        _cache["key"] = key
        _cache["ids"] = {_our_string(os_state, player, a): a for a in os_state.legal_actions()}
    # an action OpenSpiel does not have gets an id of its own that OpenSpiel never uses
    return _cache["ids"].get(action, 100000 + sum(map(ord, action)) * 1000 + len(action))


_cache: dict = {}
