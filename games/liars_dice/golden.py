"""Liar's dice (two players, three six-sided dice each) as a Game Code World Model.

Each player rolls three dice in secret (six explicit chance nodes, one die each: player 0's
three dice first, then player 1's).
Players then take turns raising a bid "at least <quantity> dice among all dice show
<face>", where 6s are wild and count for every face, until one player calls "liar" on
the previous bid. If the bid holds the bidder wins (+1, caller -1); otherwise the caller
wins.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_PLAYERS = 2
DICE_PER_PLAYER = 3
TOTAL_DICE = NUM_PLAYERS * DICE_PER_PLAYER
SIDES = 6
WILD = SIDES  # the highest face counts as any face
# Every bid from weakest to strongest: by quantity, then by face.
BIDS = [f"{q}x{f}" for q in range(1, TOTAL_DICE + 1) for f in range(1, SIDES + 1)]
LIAR = "liar"


def get_initial_state() -> State:
    # dice[p]: player p's rolled dice; bidding: the public bids (and a final "liar").
    return {"dice": [[] for _ in range(NUM_PLAYERS)], "bidding": []}


def _rolling_player(state: State) -> int | None:
    """The player whose next die is rolled, or None once every die is rolled."""
    for p in range(NUM_PLAYERS):
        if len(state["dice"][p]) < DICE_PER_PLAYER:
            return p
    return None


def get_current_player(state: State) -> int:
    if _rolling_player(state) is not None:
        return CHANCE
    if state["bidding"] and state["bidding"][-1] == LIAR:
        return TERMINAL
    return len(state["bidding"]) % NUM_PLAYERS  # player 0 bids first


def get_player_name(player: int) -> str:
    if player == CHANCE:
        return "chance"
    if player == TERMINAL:
        return "terminal"
    return f"player {player}"


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    return [(f"roll={face}", 1.0 / SIDES) for face in range(1, SIDES + 1)]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    bidding = state["bidding"]
    if not bidding:
        return list(BIDS)  # any opening bid; "liar" needs a bid to challenge
    return BIDS[BIDS.index(bidding[-1]) + 1:] + [LIAR]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    dice = [list(d) for d in state["dice"]]
    if action.startswith("roll="):
        roller = _rolling_player(state)
        dice[roller] = sorted(dice[roller] + [int(action[5:])])
        return {"dice": dice, "bidding": list(state["bidding"])}
    return {"dice": dice, "bidding": state["bidding"] + [action]}


def _bid_holds(dice: list[list[int]], bid: str) -> bool:
    quantity, face = (int(x) for x in bid.split("x"))
    matches = sum(1 for hand in dice for d in hand if d == face or d == WILD)
    return matches >= quantity


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0] * NUM_PLAYERS
    bidding = state["bidding"]
    caller = (len(bidding) - 1) % NUM_PLAYERS
    bidder = (len(bidding) - 2) % NUM_PLAYERS
    winner, loser = (bidder, caller) if _bid_holds(state["dice"], bidding[-2]) else (caller, bidder)
    rewards = [0.0] * NUM_PLAYERS
    rewards[winner], rewards[loser] = 1.0, -1.0
    return rewards


def get_observations(state: State) -> list[dict[str, Any]]:
    over = get_current_player(state) == TERMINAL
    to_move = get_current_player(state)
    return [
        {
            "my_dice": list(state["dice"][p]),
            "opponent_dice": list(state["dice"][1 - p]) if over else None,  # shown at the call
            "bidding": list(state["bidding"]),
            "to_move": to_move,
        }
        for p in range(NUM_PLAYERS)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Only the opponent's dice are hidden (until the final call reveals them); the bidding
    # is public. Our own hand is shown sorted, so the order we rolled it in is read off the
    # step at which each die appeared; the opponent's order is never seen, any will do.
    final = obs_action_history[-1]["observation"]
    steps = len(obs_action_history) - 1
    mine, before = [], []
    for entry in obs_action_history:
        now = list(entry["observation"]["my_dice"])
        for d in before:
            now.remove(d)
        mine += now  # the die rolled at this step, if any
        before = list(entry["observation"]["my_dice"])
    dice = [None, None]
    dice[player_id] = mine
    theirs = final["opponent_dice"]
    if theirs is None:
        theirs = [random.randint(1, SIDES) for _ in range(DICE_PER_PLAYER)]
    dice[1 - player_id] = theirs
    rolls = [f"roll={d}" for p in range(NUM_PLAYERS) for d in dice[p]]
    # Our own dice may not all be rolled in a short history: the cut keeps the rolls made.
    return (rolls + list(final["bidding"]))[:steps]
