"""Hanabi (two players, two colours, hand size 3) as a Game Code World Model.

A cooperative card game: players hold their cards facing outwards, so each sees the other's
hand but not their own. Together they build one firework per colour, ranks 1 to 5 in order,
by playing cards; hints (which cost information tokens) tell the other player which of
their cards have a given colour or rank. A wrong play costs a life token. The shared score
is the sum of the firework heights, or 0 once all life tokens are lost.

The rules and the action numbering follow OpenSpiel's `hanabi` (the Hanabi Learning
Environment) with players=2, colors=2, ranks=5, hand_size=3, max_information_tokens=8,
max_life_tokens=3. Every card drawn is an explicit chance event.
"""

import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
NUM_PLAYERS = 2
COLORS = ["R", "Y"]  # red, yellow
RANKS = [1, 2, 3, 4, 5]
COPIES = {1: 3, 2: 2, 3: 2, 4: 2, 5: 1}  # copies of each rank in every colour
HAND_SIZE = 3
MAX_INFO_TOKENS = 8
MAX_LIFE_TOKENS = 3
# Card types in canonical order: colour by colour, ranks ascending (R1 .. R5, Y1 .. Y5).
CARD_TYPES = [f"{c}{r}" for c in COLORS for r in RANKS]
TYPE_INDEX = {card: i for i, card in enumerate(CARD_TYPES)}
MAX_SCORE = len(COLORS) * len(RANKS)


def get_initial_state() -> State:
    return {
        "deck": [COPIES[int(card[1])] for card in CARD_TYPES],  # cards left, per type
        # each card in hand: its identity plus what its holder knows from hints
        "hands": [[] for _ in range(NUM_PLAYERS)],
        "fireworks": [0] * len(COLORS),  # height of each colour's firework
        "info_tokens": MAX_INFO_TOKENS,
        "life_tokens": MAX_LIFE_TOKENS,
        "discards": [],  # discarded and misplayed cards, in order
        "next_player": 0,  # the player who moves once no card needs dealing
        "turns_to_play": NUM_PLAYERS,  # moves left once the deck is empty
        "last_move": None,
    }


def _deck_size(state: State) -> int:
    return sum(state["deck"])


def _score(state: State) -> int:
    return 0 if state["life_tokens"] <= 0 else sum(state["fireworks"])


def _is_terminal(state: State) -> bool:
    return (
        state["life_tokens"] <= 0
        or sum(state["fireworks"]) == MAX_SCORE
        or state["turns_to_play"] <= 0
    )


def _player_to_deal(state: State) -> int | None:
    """The first player whose hand is short of HAND_SIZE, if the deck still has cards."""
    if _deck_size(state) == 0:
        return None
    for p, hand in enumerate(state["hands"]):
        if len(hand) < HAND_SIZE:
            return p
    return None


def get_current_player(state: State) -> int:
    if _is_terminal(state):
        return TERMINAL
    if _player_to_deal(state) is not None:
        return CHANCE
    return state["next_player"]


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    total = _deck_size(state)
    return [(f"deal {card}", n / total) for card, n in zip(CARD_TYPES, state["deck"]) if n > 0]


def get_legal_actions(state: State) -> list[Action]:
    player = get_current_player(state)
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    hand = state["hands"][player]
    actions = []
    if state["info_tokens"] < MAX_INFO_TOKENS:
        actions += [f"discard {i}" for i in range(len(hand))]
    actions += [f"play {i}" for i in range(len(hand))]
    if state["info_tokens"] > 0:
        other = state["hands"][1 - player]
        colors = {c["card"][0] for c in other}
        ranks = {int(c["card"][1]) for c in other}
        actions += [f"reveal color {c}" for c in COLORS if c in colors]
        actions += [f"reveal rank {r}" for r in RANKS if r in ranks]
    return actions


def _new_card(card: str) -> dict[str, Any]:
    return {"card": card, "colors": list(COLORS), "ranks": list(RANKS)}


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    new = dict(state)  # shallow copy; every field changed below is replaced
    if player == CHANCE:
        card = action.split()[1]
        receiver = _player_to_deal(state)
        deck = list(state["deck"])
        deck[TYPE_INDEX[card]] -= 1
        new["deck"] = deck
        hands = list(state["hands"])
        hands[receiver] = hands[receiver] + [_new_card(card)]  # new cards go to the end
        new["hands"] = hands
        return new

    if _deck_size(state) == 0:  # after the last card is drawn, each player moves once more
        new["turns_to_play"] = state["turns_to_play"] - 1
    new["next_player"] = (player + 1) % NUM_PLAYERS
    kind, arg = action.split(" ", 1)
    hands = list(state["hands"])
    if kind in ("play", "discard"):
        index = int(arg)
        card = hands[player][index]["card"]
        hands[player] = hands[player][:index] + hands[player][index + 1:]
        new["last_move"] = {"player": player, "action": action, "card": card}
        color, rank = TYPE_INDEX[card] // len(RANKS), int(card[1])
        if kind == "discard":
            new["info_tokens"] = state["info_tokens"] + 1
            new["discards"] = state["discards"] + [card]
        elif state["fireworks"][color] == rank - 1:  # a successful play
            fireworks = list(state["fireworks"])
            fireworks[color] = rank
            new["fireworks"] = fireworks
            if rank == len(RANKS) and state["info_tokens"] < MAX_INFO_TOKENS:
                new["info_tokens"] = state["info_tokens"] + 1  # bonus for a full firework
        else:  # a misplay: lose a life, the card is discarded
            new["life_tokens"] = state["life_tokens"] - 1
            new["discards"] = state["discards"] + [card]
    else:  # a hint to the other player: "reveal color X" or "reveal rank N"
        _, value = arg.split(" ")
        target = 1 - player
        slot = 0 if arg.startswith("color") else 1
        key = "colors" if slot == 0 else "ranks"
        value = value if slot == 0 else int(value)
        revealed = []
        for c in hands[target]:
            identity = c["card"][0] if slot == 0 else int(c["card"][1])
            c = dict(c)
            if identity == value:  # touched: now known exactly
                c[key] = [value]
            else:  # not touched: rule the value out
                c[key] = [v for v in c[key] if v != value]
            revealed.append(c)
        hands[target] = revealed
        new["info_tokens"] = state["info_tokens"] - 1
        new["last_move"] = {"player": player, "action": action, "card": None}
    new["hands"] = hands
    return new


def get_rewards(state: State) -> list[float]:
    # Cooperative: both players share the score collected so far.
    return [float(_score(state))] * NUM_PLAYERS


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    common = {
        "to_move": to_move,
        "life_tokens": state["life_tokens"],
        "info_tokens": state["info_tokens"],
        "fireworks": {c: h for c, h in zip(COLORS, state["fireworks"])},
        "deck_size": _deck_size(state),
        "discards": list(state["discards"]),
        "last_move": None if state["last_move"] is None else dict(state["last_move"]),
    }
    obs = []
    for p in range(NUM_PLAYERS):
        o = dict(common)
        o["fireworks"] = dict(common["fireworks"])
        o["discards"] = list(common["discards"])
        # own cards: only the hint knowledge, never the identity
        o["my_hand"] = [
            {"colors": list(c["colors"]), "ranks": list(c["ranks"])} for c in state["hands"][p]
        ]
        o["other_hand"] = [
            {"card": c["card"], "colors": list(c["colors"]), "ranks": list(c["ranks"])}
            for c in state["hands"][1 - p]
        ]
        obs.append(o)
    return obs


def _assign(slots: list[int], allowed: dict[int, list[str]], left: dict[str, int],
            out: dict[int, str]) -> bool:
    """Give every slot a card type it allows, within the counts left (random backtracking)."""
    if not slots:
        return True
    slot, rest = slots[0], slots[1:]
    options = [c for c in allowed[slot] if left[c] > 0]
    random.shuffle(options)
    for card in options:
        left[card] -= 1
        out[slot] = card
        if _assign(rest, allowed, left, out):
            return True
        left[card] += 1
    return False


def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """A full action list consistent with what `player_id` observed.

    Everything but the identities of the player's own cards still in hand is known: the other
    player's dealt cards are visible, moves are announced in `last_move`, and cards we played
    or discarded are revealed. The unknown cards are sampled among the unseen card types,
    respecting the hints (each card's possible colours and ranks) and the copy counts.
    """
    me = player_id
    steps = len(obs_action_history) - 1
    plan: list[Any] = []  # an action string, or the slot id of one of our own dealt cards
    hand: list[int] = []  # slot ids of our cards, in hand order
    identity: dict[int, str] = {}
    left = {card: COPIES[int(card[1])] for card in CARD_TYPES}
    next_slot = 0
    for t in range(steps):
        entry = obs_action_history[t]
        obs, nxt = entry["observation"], obs_action_history[t + 1]["observation"]
        if obs["to_move"] == CHANCE:
            if len(nxt["my_hand"]) > len(obs["my_hand"]):  # dealt to us: unknown for now
                hand.append(next_slot)
                plan.append(next_slot)
                next_slot += 1
            else:  # dealt to the other player: we see it arrive at the end of their hand
                card = nxt["other_hand"][-1]["card"]
                left[card] -= 1
                plan.append(f"deal {card}")
        elif obs["to_move"] == me:
            action = entry["action"]
            plan.append(action)
            kind, arg = action.split(" ", 1)
            if kind in ("play", "discard"):
                slot = hand.pop(int(arg))
                identity[slot] = nxt["last_move"]["card"]
                left[identity[slot]] -= 1
        else:
            plan.append(nxt["last_move"]["action"])

    # Our cards still in hand: their final hint knowledge bounds what they can be.
    final = obs_action_history[-1]["observation"]["my_hand"]
    allowed = {
        slot: [f"{c}{r}" for c in know["colors"] for r in know["ranks"]]
        for slot, know in zip(hand, final)
    }
    if not _assign(list(hand), allowed, left, identity):
        raise ValueError("observations are inconsistent")
    return [a if isinstance(a, str) else f"deal {identity[a]}" for a in plan]
