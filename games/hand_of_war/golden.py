"""Hand of War as a Game Code World Model.

A two-player card-capture game. A 15-card deck (suits R, G, B; ranks 1-5) is shuffled and
five cards are dealt to each player, one at a time, alternating, player 0 first; the other
five cards are never used. Then five rounds are played: the round's leader plays a card
face down, the other player plays a card face down, and both are revealed. The higher rank
captures both cards (a 1 beats a 5, the only exception) together with the pot; equal ranks
send both cards to the pot, which goes to the winner of the next decided round. Whoever
captured more cards after five rounds wins.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
SUITS = ("R", "G", "B")
RANKS = (1, 2, 3, 4, 5)
# Canonical card order: by rank, then suit R < G < B. Hands and action lists use it.
ALL_CARDS = [f"{s}{r}" for r in RANKS for s in SUITS]
CARD_INDEX = {c: i for i, c in enumerate(ALL_CARDS)}
HAND_SIZE = 5
NUM_DEALT = 2 * HAND_SIZE  # ten cards are dealt, five stay in the deck unseen
NUM_ROUNDS = HAND_SIZE


def _rank(card: str) -> int:
    return int(card[1:])


def _beats(a: str, b: str) -> bool:
    """Does card a beat card b? Higher rank wins, except that a 1 beats a 5."""
    ra, rb = _rank(a), _rank(b)
    if ra == 1 and rb == 5:
        return True
    if ra == 5 and rb == 1:
        return False
    return ra > rb


def _sorted(cards: list[str]) -> list[str]:
    return sorted(cards, key=CARD_INDEX.__getitem__)


def get_initial_state() -> State:
    return {
        "dealt": [],  # cards dealt so far, in order (deal k went to player k % 2)
        "hands": [[], []],  # cards each player holds, canonical order
        "leader": 0,  # who plays first in the current round
        "table": [None, None],  # face-down card of each player in the current round
        "pot": [],  # tied cards waiting for the next decided round
        "captured": [0, 0],  # number of cards each player has captured
        "history": [],  # completed rounds: {"leader", "cards": [c0, c1], "winner"}
    }


def get_current_player(state: State) -> int:
    if len(state["dealt"]) < NUM_DEALT:
        return CHANCE
    if len(state["history"]) == NUM_ROUNDS:
        return TERMINAL
    leader = state["leader"]
    return leader if state["table"][leader] is None else 1 - leader


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    dealt = set(state["dealt"])
    remaining = [c for c in ALL_CARDS if c not in dealt]
    p = 1.0 / len(remaining)
    return [(f"deal {c}", p) for c in remaining]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    return [f"play {c}" for c in state["hands"][player]]


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    card = action.split(" ", 1)[1]
    # Shallow copy; every field we change below is replaced by a new object.
    new = dict(state)
    if player == CHANCE:
        receiver = len(state["dealt"]) % 2
        new["dealt"] = state["dealt"] + [card]
        hands = [state["hands"][0], state["hands"][1]]
        hands[receiver] = _sorted(hands[receiver] + [card])
        new["hands"] = hands
        return new

    hands = [state["hands"][0], state["hands"][1]]
    hands[player] = [c for c in hands[player] if c != card]
    new["hands"] = hands
    table = list(state["table"])
    table[player] = card
    if table[0] is None or table[1] is None:  # the leader's card waits face down
        new["table"] = table
        return new

    # Both cards are down: reveal and resolve the round.
    leader = state["leader"]
    if _beats(table[0], table[1]):
        winner = 0
    elif _beats(table[1], table[0]):
        winner = 1
    else:
        winner = None  # equal ranks
    if winner is None:
        new["pot"] = state["pot"] + table
    else:
        captured = list(state["captured"])
        captured[winner] += 2 + len(state["pot"])
        new["captured"] = captured
        new["pot"] = []
        new["leader"] = winner
    new["history"] = state["history"] + [{"leader": leader, "cards": table, "winner": winner}]
    new["table"] = [None, None]
    return new


def get_rewards(state: State) -> list[float]:
    if get_current_player(state) != TERMINAL:
        return [0.0, 0.0]
    a, b = state["captured"]
    if a > b:
        return [1.0, -1.0]
    if b > a:
        return [-1.0, 1.0]
    return [0.0, 0.0]


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    history = [dict(h, cards=list(h["cards"])) for h in state["history"]]
    obs = []
    for p in range(2):
        obs.append(
            {
                "to_move": to_move,
                "hand": list(state["hands"][p]),
                "opponent_hand_size": len(state["hands"][1 - p]),
                "my_card": state["table"][p],
                "opponent_played": state["table"][1 - p] is not None,
                "leader": state["leader"],
                "round": len(state["history"]),
                "history": [dict(h, cards=list(h["cards"])) for h in history],
                "pot": list(state["pot"]),
                "captured": list(state["captured"]),
            }
        )
    return obs


def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """A full action list consistent with what `player_id` observed.

    Our own dealt cards show up in our hand; the opponent's cards are known only once
    revealed in a completed round, the others are drawn at random from the cards we have
    not seen, and dealt to the opponent in a random order.
    """
    me, opp = player_id, 1 - player_id
    steps = len(obs_action_history) - 1
    final = obs_action_history[-1]["observation"]

    # Pass 1: classify every step.
    kinds = []  # ("mine_deal", card) | ("opp_deal",) | ("mine", action) | ("opp_play", round)
    my_cards: list[str] = []
    for t in range(steps):
        entry, nxt = obs_action_history[t], obs_action_history[t + 1]["observation"]
        obs = entry["observation"]
        if obs["to_move"] == CHANCE:
            new_cards = [c for c in nxt["hand"] if c not in obs["hand"]]
            if new_cards:
                kinds.append(("mine_deal", new_cards[0]))
                my_cards.append(new_cards[0])
            else:
                kinds.append(("opp_deal",))
        elif obs["to_move"] == me:
            kinds.append(("mine", entry["action"]))
        else:
            kinds.append(("opp_play", obs["round"]))

    # The opponent's cards: revealed ones, plus unknown ones sampled from unseen cards.
    revealed = [h["cards"][opp] for h in final["history"]]
    n_opp = sum(1 for k in kinds if k[0] == "opp_deal")
    unseen = [c for c in ALL_CARDS if c not in my_cards and c not in revealed]
    unknown = random.sample(unseen, n_opp - len(revealed))
    # In an unfinished round the opponent's face-down card is one of the unknown cards.
    face_down = unknown[0] if final["opponent_played"] else None
    opp_deals = revealed + unknown
    random.shuffle(opp_deals)

    actions: list[Action] = []
    for kind in kinds:
        if kind[0] == "mine_deal":
            actions.append(f"deal {kind[1]}")
        elif kind[0] == "opp_deal":
            actions.append(f"deal {opp_deals.pop()}")
        elif kind[0] == "mine":
            actions.append(kind[1])
        else:
            r = kind[1]
            actions.append(f"play {revealed[r] if r < len(revealed) else face_down}")
    return actions
