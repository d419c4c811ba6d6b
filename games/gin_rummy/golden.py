"""Gin rummy (one hand, the seed's rules) as a Game Code World Model.

Player 0 deals 10 cards each and an upcard; player 1 acts first. A turn is a draw (upcard or
stock) and a discard, or a knock when the 11-card hand has at most 10 deadwood; the knocker
keeps all 11 cards, lays melds, and the defender lays off cards that fit them. Only the
winner scores: gin 25 + D, else D - K for the knocker, or 25 + K - D for the defender on an
undercut. Every card dealt or drawn is an explicit chance event, uniform over unseen cards.
"""

import functools
import itertools
import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
RANKS = "A23456789TJQK"
SUITS = "scdh"
CARDS = [r + s for s in SUITS for r in RANKS]  # card order
ORDER = {c: i for i, c in enumerate(CARDS)}


def _value(card: str) -> int:
    return min(RANKS.index(card[0]) + 1, 10)


def _sorted(cards: list[str]) -> list[str]:
    return sorted(cards, key=ORDER.__getitem__)


def _melds(hand: list[str]) -> list[list[str]]:
    """Every set (3 or 4 of a rank) and run (3+ consecutive of a suit) within `hand`."""
    out = []
    for r in RANKS:
        same = _sorted([c for c in hand if c[0] == r])
        out += [list(m) for k in (3, 4) for m in itertools.combinations(same, k)]
    for s in SUITS:
        for i in range(11):
            j = i
            while j < 13 and RANKS[j] + s in hand:
                j += 1
            out += [[RANKS[x] + s for x in range(i, e)] for e in range(i + 3, j + 1)]
    return out


@functools.lru_cache(maxsize=1 << 16)
def _deadwood_of(hand: tuple[str, ...]) -> int:
    if not hand:
        return 0
    first, rest = hand[0], hand[1:]
    best = _value(first) + _deadwood_of(rest)  # the first card stays unmelded ...
    for meld in _melds(list(hand)):  # ... or is melded
        if first in meld:
            best = min(best, _deadwood_of(tuple(c for c in rest if c not in meld)))
    return best


def deadwood(hand: list[str]) -> int:
    """The smallest value of unmelded cards over all arrangements of `hand`."""
    return _deadwood_of(tuple(_sorted(hand)))


def get_initial_state() -> State:
    return {
        "dealt": [],  # every card dealt or drawn from the stock, in order
        "hands": [[], []],
        "pile": [],  # discard pile, the upcard last
        "phase": "deal",  # deal (chance), first_upcard, draw, discard, meld, layoff, game_over
        "turn": 1,  # the player to act (at a chance event: who gets the card)
        "passes": 0,  # passes on the first upcard
        "upcard_draws": 0,
        "knocker": None,
        "gin": False,
        "melds": [],  # the knocker's melds as laid
        "ext": [],  # per meld, the cards laid off on it
        "layoffs": [],
        "last": None,
        "rewards": [0.0, 0.0],
    }


def get_current_player(state: State) -> int:
    if state["phase"] == "game_over":
        return TERMINAL
    return CHANCE if state["phase"] == "deal" else state["turn"]


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if get_current_player(state) != CHANCE:
        return []
    left = [c for c in CARDS if c not in state["dealt"]]
    return [(f"deal {c}", 1.0 / len(left)) for c in left]


def _fits(state: State, card: str) -> int | None:
    """Index of the first knocker's meld `card` can be laid off on, else None."""
    for i, meld in enumerate(state["melds"]):
        cards = [meld[k : k + 2] for k in range(0, len(meld), 2)] + state["ext"][i]
        ranks = sorted(RANKS.index(c[0]) for c in cards)
        if cards[0][0] == cards[1][0]:  # a set
            if len(cards) == 3 and card[0] == cards[0][0]:
                return i
        elif card[1] == cards[0][1] and RANKS.index(card[0]) in (ranks[0] - 1, ranks[-1] + 1):
            return i
    return None


def get_legal_actions(state: State) -> list[Action]:
    player, phase = get_current_player(state), state["phase"]
    if player == TERMINAL:
        return []
    if player == CHANCE:
        return [a for a, _ in get_chance_outcomes(state)]
    hand = state["hands"][player]
    if phase == "first_upcard":
        return ["draw upcard", "pass"]
    if phase == "draw":
        return ["draw upcard", "draw stock"]
    if phase == "discard":
        return [f"discard {c}" for c in hand] + (["knock"] if deadwood(hand) <= 10 else [])
    if phase == "meld":
        return sorted("meld " + "".join(m) for m in _melds(hand)) + ["done"]
    return [f"layoff {c}" for c in hand if _fits(state, c) is not None] + ["done"]


def _after_draw(state: State) -> None:
    """A draw leaving fewer than 2 stock cards, or the 50th upcard draw, ends in a draw."""
    state["phase"] = "discard"
    if 52 - len(state["dealt"]) < 2 or state["upcard_draws"] >= 50:
        state["phase"] = "game_over"


def _score(state: State) -> None:
    knocker = state["knocker"]
    k = sum(_value(c) for c in state["hands"][knocker])
    d = deadwood(state["hands"][1 - knocker])
    if state["gin"]:
        winner, points = knocker, 25 + d
    elif k < d:
        winner, points = knocker, d - k
    else:
        winner, points = 1 - knocker, 25 + k - d
    state["rewards"][winner] = float(points)
    state["phase"] = "game_over"


def apply_action(state: State, action: Action) -> State:
    player = get_current_player(state)
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    s = {k: list(v) if isinstance(v, list) else v for k, v in state.items()}
    s["hands"], s["ext"] = [list(h) for h in s["hands"]], [list(e) for e in s["ext"]]
    word, _, arg = action.partition(" ")
    if player == CHANCE:
        s["dealt"].append(arg)
        n = len(s["dealt"])
        if n == 21:  # the upcard
            s["pile"].append(arg)
            s["phase"], s["turn"] = "first_upcard", 1
        else:
            to = (0 if n <= 10 else 1) if n <= 20 else s["turn"]
            s["hands"][to] = _sorted(s["hands"][to] + [arg])
            if n > 21:
                _after_draw(s)
        return s
    s["last"] = action
    hand = s["hands"][player]
    if action == "pass":  # first upcard
        s["passes"] += 1
        s["turn"] = 0
        if s["passes"] == 2:
            s["phase"], s["turn"] = "deal", 1
    elif action == "draw upcard":
        s["hands"][player] = _sorted(hand + [s["pile"].pop()])
        s["upcard_draws"] += 1
        _after_draw(s)
    elif action == "draw stock":
        s["phase"] = "deal"
    elif word == "discard":
        hand.remove(arg)
        s["pile"].append(arg)
        s["phase"], s["turn"] = "draw", 1 - player
    elif action == "knock":
        s["knocker"], s["gin"], s["phase"] = player, deadwood(hand) == 0, "meld"
    elif word == "meld":
        s["hands"][player] = [c for c in hand if c not in arg]
        s["melds"].append(arg)
        s["ext"].append([])
    elif word == "layoff":
        s["ext"][_fits(s, arg)].append(arg)
        hand.remove(arg)
        s["layoffs"].append(arg)
    elif s["phase"] == "meld" and not s["gin"]:  # done laying melds
        s["phase"], s["turn"] = "layoff", 1 - player
    else:  # done: the hand is over
        _score(s)
    return s


def get_rewards(state: State) -> list[float]:
    return list(state["rewards"])


def get_observations(state: State) -> list[dict[str, Any]]:
    knocker = state["knocker"]
    return [
        {
            "to_move": get_current_player(state),
            "phase": state["phase"],
            "hand": list(state["hands"][p]),
            "opponent_hand_size": len(state["hands"][1 - p]),
            "discard_pile": list(state["pile"]),
            "stock_size": 52 - len(state["dealt"]),
            "upcard_draws": state["upcard_draws"],
            "knocker": knocker,
            "knocker_hand": None if knocker is None else list(state["hands"][knocker]),
            "melds": list(state["melds"]),
            "layoffs": list(state["layoffs"]),
            "last_action": state["last"],
        }
        for p in (0, 1)
    ]


def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """A full action list consistent with what `player_id` observed.

    Every player action is public (`last_action`); only the cards dealt or drawn to the
    opponent are hidden. When one of them shows (discarded, shown at a knock, laid off) it
    is given to any hidden card slot still in the opponent's hand (when it arrived changes
    nothing we saw); the other slots get cards that appear in no observation, at random.
    """
    me = player_id
    plan: list[Any] = []  # action strings, or int: a slot (hidden card dealt to the opponent)
    in_hand: list[int] = []  # hidden slots still in the opponent's hand
    cards: dict[int, str] = {}
    known: set[str] = set()  # opponent cards we know (taken upcards, shown hand)

    def shown(card: str) -> None:
        if card not in known:
            cards[in_hand.pop()] = card
            known.add(card)

    seen: set[str] = set()
    for t, entry in enumerate(obs_action_history[:-1]):
        obs, nxt = entry["observation"], obs_action_history[t + 1]["observation"]
        seen |= set(nxt["hand"] + nxt["discard_pile"] + (nxt["knocker_hand"] or []))
        seen |= set(nxt["layoffs"])  # melded cards were shown in the knocker's hand
        if obs["to_move"] == CHANCE:
            mine = [c for c in nxt["hand"] if c not in obs["hand"]]
            if mine or len(nxt["discard_pile"]) > len(obs["discard_pile"]):
                plan.append(f"deal {(mine or nxt['discard_pile'])[-1]}")
            else:
                plan.append(len(plan))
                in_hand.append(len(plan) - 1)
        elif obs["to_move"] == me:
            plan.append(entry["action"])
        else:
            action = nxt["last_action"]
            plan.append(action)
            word, _, arg = action.partition(" ")
            if action == "draw upcard":
                known.add(obs["discard_pile"][-1])
            elif action == "knock":
                for card in nxt["knocker_hand"]:
                    shown(card)
            elif word in ("discard", "layoff", "meld"):
                for card in [arg[k : k + 2] for k in range(0, len(arg), 2)]:
                    shown(card)
                    known.discard(card)
    pool = [c for c in CARDS if c not in seen and c not in cards.values()]
    random.shuffle(pool)
    for slot in in_hand:
        cards[slot] = pool.pop()
    return [a if isinstance(a, str) else f"deal {cards[a]}" for a in plan]
