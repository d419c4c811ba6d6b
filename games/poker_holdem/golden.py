"""Heads-up limit Texas hold'em as a Game Code World Model.

Standard 52-card deck, two players. Player 0 posts the big blind (10), player 1 the small
blind (5). Each player gets two private cards, then four betting rounds (pre-flop, flop,
turn, river) with fixed raise sizes 10, 10, 20, 20 and at most 3, 4, 4, 4 raises a round;
three, one and one community cards are dealt before the flop, turn and river rounds.
Every card is dealt as its own chance event, uniformly from the cards not yet dealt.
Rewards are chips won or lost.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
RANKS = "23456789TJQKA"
SUITS = "cdhs"
DECK = [r + s for r in RANKS for s in SUITS]  # 2c 2d 2h 2s 3c ... As: the outcome order
BLINDS = [10, 5]                   # player 0 big blind, player 1 small blind
RAISE_SIZE = [10, 10, 20, 20]      # per betting round
MAX_RAISES = [3, 4, 4, 4]
FIRST_TO_ACT = [1, 0, 0, 0]        # small blind first pre-flop, big blind first after
BOARD_BEFORE_ROUND = [0, 3, 4, 5]  # community cards on the table during each round


def get_initial_state() -> State:
    return {
        "hole": [[], []],        # private cards, dealt 2 to player 0 then 2 to player 1
        "board": [],             # community cards
        "round": 0,              # 0 pre-flop, 1 flop, 2 turn, 3 river
        "betting": [[]],         # action strings of each betting round so far
        "contrib": list(BLINDS), # chips each player has put in the pot
        "to_act": FIRST_TO_ACT[0],
        "folded": None,          # the player who folded, if any
        "showdown": False,
    }


def _dealt(state: State) -> list[str]:
    return state["hole"][0] + state["hole"][1] + state["board"]


def get_current_player(state: State) -> int:
    if state["folded"] is not None or state["showdown"]:
        return TERMINAL
    if len(state["hole"][1]) < 2 or len(state["board"]) < BOARD_BEFORE_ROUND[state["round"]]:
        return CHANCE
    return state["to_act"]


def get_player_name(player: int) -> str:
    return {0: "big blind", 1: "small blind", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        dealt = _dealt(state)
        return [f"deal({card})" for card in DECK if card not in dealt]
    to_call = state["contrib"][1 - player] - state["contrib"][player]
    raises = sum(a == "raise" for a in state["betting"][-1])
    actions = ["fold", "call"] if to_call > 0 else ["check"]
    if raises < MAX_RAISES[state["round"]]:
        actions.append("raise")
    return actions


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    outcomes = get_legal_actions(state)
    return [(a, 1.0 / len(outcomes)) for a in outcomes]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy: every list we change is copied first
    player = get_current_player(state)
    if player == CHANCE:
        card = action[5:7]
        if len(state["hole"][1]) < 2:
            holder = 0 if len(state["hole"][0]) < 2 else 1
            new["hole"] = [list(h) for h in state["hole"]]
            new["hole"][holder].append(card)
        else:
            new["board"] = state["board"] + [card]
        return new
    rnd, opponent = state["round"], 1 - player
    new["contrib"] = list(state["contrib"])
    new["betting"] = state["betting"][:-1] + [state["betting"][-1] + [action]]
    if action == "fold":
        new["folded"] = player
        return new
    if action == "raise":
        new["contrib"][player] = state["contrib"][opponent] + RAISE_SIZE[rnd]
        new["to_act"] = opponent
        return new
    new["contrib"][player] = state["contrib"][opponent]  # check or call
    if len(new["betting"][-1]) == 1:  # the first action of a round never closes it
        new["to_act"] = opponent
    elif rnd == 3:
        new["showdown"] = True
    else:
        new["round"] = rnd + 1
        new["betting"].append([])
        new["to_act"] = FIRST_TO_ACT[rnd + 1]
    return new


def hand_value(cards: list[str]) -> tuple:
    """The value of the best five-card hand among `cards` (5-7 cards), as a tuple that
    compares like the hands: (category, tie-breaking ranks...). Categories: 8 straight flush,
    7 four of a kind, 6 full house, 5 flush, 4 straight, 3 three of a kind, 2 two pair,
    1 one pair, 0 high card. Ranks are 2..14 (ace high; ace also low in A-2-3-4-5)."""
    ranks = sorted((RANKS.index(c[0]) + 2 for c in cards), reverse=True)
    by_suit: dict[str, list[int]] = {}
    for c in cards:
        by_suit.setdefault(c[1], []).append(RANKS.index(c[0]) + 2)

    def straight_high(rs: list[int]) -> int:
        present = set(rs)
        if 14 in present:
            present.add(1)
        for high in range(14, 4, -1):
            if all(r in present for r in range(high - 4, high + 1)):
                return high
        return 0

    flush = next((sorted(rs, reverse=True) for rs in by_suit.values() if len(rs) >= 5), None)
    if flush:
        high = straight_high(flush)
        if high:
            return (8, high)
    counts: dict[int, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    groups = sorted(counts.items(), key=lambda rc: (rc[1], rc[0]), reverse=True)
    quads = [r for r, n in groups if n == 4]
    trips = [r for r, n in groups if n == 3]
    pairs = [r for r, n in groups if n == 2]
    if quads:
        return (7, quads[0], max(r for r in ranks if r != quads[0]))
    if trips and (len(trips) > 1 or pairs):
        return (6, trips[0], max(trips[1:] + pairs))
    if flush:
        return (5, *flush[:5])
    high = straight_high(ranks)
    if high:
        return (4, high)
    if trips:
        return (3, trips[0], *[r for r in ranks if r != trips[0]][:2])
    if len(pairs) >= 2:
        kicker = max(r for r in ranks if r not in pairs[:2])
        return (2, pairs[0], pairs[1], kicker)
    if pairs:
        return (1, pairs[0], *[r for r in ranks if r != pairs[0]][:3])
    return (0, *ranks[:5])


def get_rewards(state: State) -> list[float]:
    contrib = state["contrib"]
    if state["folded"] is not None:
        loser = state["folded"]
    elif state["showdown"]:
        v0 = hand_value(state["hole"][0] + state["board"])
        v1 = hand_value(state["hole"][1] + state["board"])
        if v0 == v1:
            return [0.0, 0.0]  # split pot: each gets their own chips back
        loser = 1 if v0 > v1 else 0
    else:
        return [0.0, 0.0]
    won = float(contrib[loser])
    return [won, -won] if loser == 1 else [-won, won]


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    obs = []
    for p in (0, 1):
        opponent = state["hole"][1 - p]
        obs.append({
            "to_move": to_move,
            "my_cards": list(state["hole"][p]),
            "opponent_card_count": len(opponent),
            "opponent_cards": list(opponent) if state["showdown"] else [],
            "board": list(state["board"]),
            "round": state["round"],
            "betting": [list(r) for r in state["betting"]],
            "contributions": list(state["contrib"]),
        })
    return obs


def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:
    """Everything but the opponent's private cards is public or the player's own; the
    opponent's cards (unless shown at showdown) are drawn uniformly from the unseen cards.
    The history is rebuilt by replaying: chance deals our cards, the drawn opponent cards
    and the observed board in order; betting actions come from the public betting record."""
    final = obs_action_history[-1]["observation"]
    mine = list(final["my_cards"])
    theirs = list(final["opponent_cards"])
    if len(theirs) < final["opponent_card_count"]:
        unseen = [c for c in DECK if c not in mine and c not in final["board"]]
        theirs = random.sample(unseen, final["opponent_card_count"])
    actions, state = [], get_initial_state()
    for _ in range(len(obs_action_history) - 1):
        player = get_current_player(state)
        if player == CHANCE:
            if len(state["hole"][1]) < 2:
                holder = 0 if len(state["hole"][0]) < 2 else 1
                cards = mine if holder == player_id else theirs
                card = cards[len(state["hole"][holder])]
            else:
                card = final["board"][len(state["board"])]
            action = f"deal({card})"
        else:
            action = final["betting"][state["round"]][len(state["betting"][-1])]
        actions.append(action)
        state = apply_action(state, action)
    return actions
