"""Leduc poker (two players) as a Game Code World Model.

A six-card deck: jack, queen and king in two suits (spades "s" and hearts "h"). Each
player antes 1 chip and gets one private card; a first betting round (raises of 2)
follows, then one public card is turned over and a second betting round (raises of 4)
is played. At most two raises per round. A player who pairs the public card wins the
showdown, otherwise the higher private card wins; equal ranks split the pot. Rewards
are net chips. Every card is dealt by an explicit chance node.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
DECK = ["Js", "Jh", "Qs", "Qh", "Ks", "Kh"]
RANKS = "JQK"  # in increasing strength
RAISE_AMOUNT = {1: 2, 2: 4}  # by betting round
MAX_RAISES = 2  # per betting round


def get_initial_state() -> State:
    return {
        "cards": [None, None],  # private cards of player 0 and player 1
        "public": None,  # the public card, turned over between the rounds
        "round": 1,
        "betting": [[], []],  # the actions of betting rounds 1 and 2
        "contrib": [1, 1],  # chips each player has put in the pot (antes included)
        "stakes": 1,  # the contribution a player must match to stay in
        "raises": 0,  # raises so far in this round
        "calls": 0,  # calls/checks since the last raise (or round start)
        "player": 0,  # whose turn it is to bet
        "folder": None,  # the player who folded, if any
        "over": False,
    }


def get_current_player(state: State) -> int:
    if state["over"]:
        return TERMINAL
    if None in state["cards"] or (state["round"] == 2 and state["public"] is None):
        return CHANCE
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def _undealt(state: State) -> list[str]:
    dealt = state["cards"] + [state["public"]]
    return [c for c in DECK if c not in dealt]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    left = _undealt(state)
    return [(c, 1.0 / len(left)) for c in left]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return _undealt(state)
    actions = []
    if state["stakes"] > state["contrib"][player]:
        actions.append("fold")  # folding only makes sense when facing a raise
    actions.append("call")  # match the stakes (a check when already matched)
    if state["raises"] < MAX_RAISES:
        actions.append("raise")
    return actions


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy; every list that changes is copied below
    if get_current_player(state) == CHANCE:
        if None in state["cards"]:
            cards = list(state["cards"])
            cards[cards.index(None)] = action  # player 0 first, then player 1
            new["cards"] = cards
        else:
            new["public"] = action
        return new

    player = state["player"]
    betting = [list(state["betting"][0]), list(state["betting"][1])]
    betting[state["round"] - 1].append(action)
    contrib = list(state["contrib"])
    new.update(betting=betting, contrib=contrib)
    if action == "fold":
        new.update(folder=player, over=True)
    elif action == "call":
        contrib[player] = state["stakes"]
        calls = state["calls"] + 1
        round_done = calls == 2 if state["raises"] == 0 else calls == 1
        if not round_done:
            new.update(calls=calls, player=1 - player)
        elif state["round"] == 1:
            # Next: the public card (chance), then round 2 opened by player 0.
            new.update(round=2, raises=0, calls=0, player=0)
        else:
            new.update(calls=calls, over=True)  # showdown
    else:  # raise: match the stakes, then add the round's raise amount
        stakes = state["stakes"] + RAISE_AMOUNT[state["round"]]
        contrib[player] = stakes
        new.update(stakes=stakes, raises=state["raises"] + 1, calls=0, player=1 - player)
    return new


def _hand_strength(private: str, public: str) -> tuple[int, int]:
    """(1 if the private card pairs the public card else 0, rank of the private card)."""
    return (1 if private[0] == public[0] else 0, RANKS.index(private[0]))


def get_rewards(state: State) -> list[float]:
    if not state["over"]:
        return [0.0, 0.0]
    contrib = state["contrib"]
    if state["folder"] is not None:
        winner = 1 - state["folder"]
    else:
        s0 = _hand_strength(state["cards"][0], state["public"])
        s1 = _hand_strength(state["cards"][1], state["public"])
        if s0 == s1:
            return [0.0, 0.0]  # split pot: each gets its own chips back
        winner = 0 if s0 > s1 else 1
    loser = 1 - winner
    rewards = [0.0, 0.0]
    rewards[winner], rewards[loser] = float(contrib[loser]), float(-contrib[loser])
    return rewards


def get_observations(state: State) -> list[dict[str, Any]]:
    showdown = state["over"] and state["folder"] is None
    to_move = get_current_player(state)
    return [
        {
            "my_card": state["cards"][p],
            "opponent_card": state["cards"][1 - p] if showdown else None,
            "public_card": state["public"],
            "betting": [list(state["betting"][0]), list(state["betting"][1])],
            "contributions": list(state["contrib"]),
            "to_move": to_move,
        }
        for p in range(2)
    ]


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    # Hidden: the opponent's private card, unless shown at a showdown. Everything else
    # (own card, public card, betting) is in the final observation. The order of events
    # is: card of player 0, card of player 1, round-1 betting, public card, round-2
    # betting; the list is cut to the history's length.
    final = obs_action_history[-1]["observation"]
    steps = len(obs_action_history) - 1
    mine, public = final["my_card"], final["public_card"]
    theirs = final["opponent_card"]
    if theirs is None:
        theirs = random.choice([c for c in DECK if c not in (mine, public)])
    cards = [None, None]
    cards[player_id], cards[1 - player_id] = mine, theirs
    actions = cards + final["betting"][0]
    if public is not None:
        actions += [public] + final["betting"][1]
    return actions[:steps]
