"""Backgammon as a Game Code World Model (OpenSpiel's move model).

Two players race 15 checkers each around 24 points and bear them off. Each player numbers
the points from their own side: they move from point 24 towards point 1, their home board
is points 1-6, and their point n is the opponent's point 25 - n. A turn is a dice roll
(a chance event) followed by one action that plays up to two dice; a double grants a second
action with the same dice. A win scores 1, a gammon 2, a backgammon 3. After 200 counted
turns without a winner the game is a draw.
"""

from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
CHECKERS = 15
MAX_TURNS = 200  # the game is drawn once more than this many turns have been played
START = {24: 2, 13: 5, 8: 3, 6: 5}  # point -> checkers, the same for both players
NON_DOUBLES = [(a, b) for a in range(1, 7) for b in range(a + 1, 7)]
# every ordered roll (first die, second die): (1,2), (2,1), (1,3), (3,1), ..., (5,6), (6,5),
# then the doubles (1,1) ... (6,6)
ROLLS = [r for a, b in NON_DOUBLES for r in ((a, b), (b, a))] + [(a, a) for a in range(1, 7)]
BAR = 25  # the bar, as a starting point of a move


def get_initial_state() -> State:
    points = [START.get(n, 0) for n in range(1, 25)]
    return {
        "points": [list(points), list(points)],  # points[p][n - 1]: p's checkers on p's point n
        "bar": [0, 0],
        "off": [0, 0],
        "dice": [],            # the current roll [first die, second die]; [] while waiting
        "to_move": None,       # the player whose roll it is
        "second_half": False,  # playing the second action of a double
        "turns": 0,            # counted turns (a double's two actions count once)
    }


def get_current_player(state: State) -> int:
    if CHECKERS in state["off"] or state["turns"] > MAX_TURNS:
        return TERMINAL
    if not state["dice"]:
        return CHANCE
    return state["to_move"]


def get_player_name(player: int) -> str:
    return {0: "x", 1: "o", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    if state["to_move"] is None:  # opening roll: no doubles; the lower first die: x starts
        outcomes = []
        for a, b in NON_DOUBLES:
            outcomes += [(f"x_starts({a},{b})", 1 / 30), (f"o_starts({b},{a})", 1 / 30)]
        return outcomes
    return [(f"roll({a},{b})", 1 / 36) for a, b in ROLLS]


# --- moving checkers -----------------------------------------------------------------
# A "position" here is a small mutable copy: [my points, opponent points, bar, off] where
# bar/off are [mine, opponent's]. A leg is (start, die, end): start 1-24 or BAR, end 1-24,
# or end <= 0 for bearing off.

def _single_legs(pos: list, dice: list[int]) -> list[tuple[int, int, int]]:
    mine, opp, bar, _ = pos
    legs = []
    if bar[0] > 0:  # checkers on the bar must enter first
        for d in sorted(set(dice)):
            if opp[d - 1] <= 1:  # my point 25 - d is the opponent's point d
                legs.append((BAR, d, 25 - d))
        return legs
    all_home = not any(mine[6:])
    furthest = max((n for n in range(1, 7) if mine[n - 1]), default=0)
    for n in range(1, 25):
        if not mine[n - 1]:
            continue
        for d in sorted(set(dice)):
            end = n - d
            if end <= 0:
                if all_home and (end == 0 or n == furthest):
                    legs.append((n, d, end))
            elif opp[24 - end] <= 1:  # at most one opposing checker on the landing point
                legs.append((n, d, end))
    return legs


def _play_leg(pos: list, leg: tuple[int, int, int]) -> list:
    mine, opp = list(pos[0]), list(pos[1])
    bar, off = list(pos[2]), list(pos[3])
    start, _, end = leg
    if start == BAR:
        bar[0] -= 1
    else:
        mine[start - 1] -= 1
    if end <= 0:
        off[0] += 1
    else:
        mine[end - 1] += 1
        if opp[24 - end] == 1:  # hit: the lone opposing checker goes to the bar
            opp[24 - end] = 0
            bar[1] += 1
    return [mine, opp, bar, off]


def _position(state: State, player: int) -> list:
    q = 1 - player
    return [state["points"][player], state["points"][q],
            [state["bar"][player], state["bar"][q]], [state["off"][player], state["off"][q]]]


def _leg_text(leg: tuple[int, int, int]) -> str:
    start, die, end = leg
    return f"{'bar' if start == BAR else start}/{f'off({die})' if end <= 0 else end}"


def _legal_sequences(state: State) -> dict[Action, list]:
    """Action string -> the legs it plays, for the player to move."""
    pos = _position(state, state["to_move"])
    dice = list(state["dice"])
    sequences = []
    for first in _single_legs(pos, dice):
        rest = list(dice)
        rest.remove(first[1])
        after = _play_leg(pos, first)
        seconds = _single_legs(after, rest)
        if seconds:
            sequences += [[first, second] for second in seconds]
        else:
            sequences.append([first])
    if not sequences:
        return {"pass": []}
    longest = max(len(s) for s in sequences)
    sequences = [s for s in sequences if len(s) == longest]
    if longest == 1:  # only one die can be played: it must be the largest playable one
        top = max(s[0][1] for s in sequences)
        sequences = [s for s in sequences if s[0][1] == top]
    return {" ".join(_leg_text(leg) for leg in s): s for s in sequences}


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    return sorted(_legal_sequences(state))


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    new = dict(state)
    if player == CHANCE:
        if action not in get_legal_actions(state):
            raise ValueError(f"illegal action {action!r}")
        a, b = int(action[-4]), int(action[-2])
        new["dice"] = [a, b]  # in the order rolled (the order never matters for moves)
        if state["to_move"] is None:
            new["to_move"] = 0 if action.startswith("x") else 1
        else:
            new["to_move"] = 1 - state["to_move"]
        return new
    sequences = _legal_sequences(state) if player != TERMINAL else {}
    if action not in sequences:
        raise ValueError(f"illegal action {action!r}")
    legs = sequences[action]
    pos = _position(state, player)
    for leg in legs:
        pos = _play_leg(pos, leg)
    q = 1 - player
    new["points"] = [None, None]
    new["points"][player], new["points"][q] = pos[0], pos[1]
    new["bar"] = [0, 0]
    new["bar"][player], new["bar"][q] = pos[2]
    new["off"] = [0, 0]
    new["off"][player], new["off"][q] = pos[3]
    dice = state["dice"]
    if not state["second_half"]:
        new["turns"] = state["turns"] + 1
    if not state["second_half"] and dice[0] == dice[1] and len(legs) == 2:
        new["second_half"] = True  # a double played in full so far: play it again
    else:
        new["second_half"] = False
        new["dice"] = []
    return new


def get_rewards(state: State) -> list[float]:
    winner = next((p for p in (0, 1) if state["off"][p] == CHECKERS), None)
    if winner is None:
        return [0.0, 0.0]
    loser = 1 - winner
    value = 1.0
    if state["off"][loser] == 0:
        value = 2.0  # gammon
        # backgammon: also a checker on the bar or in the winner's home board
        if state["bar"][loser] or any(state["points"][loser][18:]):
            value = 3.0
    return [value, -value] if winner == 0 else [-value, value]


def get_observations(state: State) -> list[dict[str, Any]]:
    # Perfect information: both players see everything. The board is given from player
    # 0's side: entry n - 1 is player 0's point n (player 1's point 25 - n), positive for
    # player 0's checkers, negative for player 1's.
    x, o = state["points"]
    obs = {
        "to_move": get_current_player(state),
        "board": [x[n] - o[23 - n] for n in range(24)],
        "bar": list(state["bar"]),
        "off": list(state["off"]),
        "dice": list(state["dice"]),
        "second_half": state["second_half"],
        "turns": state["turns"],
    }
    return [obs, dict(obs)]
