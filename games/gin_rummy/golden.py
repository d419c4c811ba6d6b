"""Gin rummy (one hand, OpenSpiel rules) as a Game Code World Model.

Standard 52-card gin rummy for two players, following OpenSpiel's `gin_rummy` (default
parameters: hand size 10, knock card 10, gin bonus 25, undercut bonus 25): ten cards each
and a first upcard are dealt one at a time; players draw (upcard or stock) and discard,
trying to arrange their hand into melds (sets of 3-4 equal ranks, runs of 3+ in a suit).
A player whose unmelded (deadwood) points are at most 10 may knock: they lay their melds,
the opponent lays off cards on them and lays their own melds, and the difference in
deadwood is scored. The hand is a draw when the stock runs down to two cards (the wall).

Cards are numbered suit * 13 + rank (suits s, c, d, h; ranks A 2 .. 9 T J Q K), written
rank then suit, e.g. "As", "Tc", "Kh".
"""

import functools
import random
from typing import Any

Action = str
State = dict[str, Any]

CHANCE = -1
TERMINAL = -4
RANK_CHARS = "A23456789TJQK"
SUIT_CHARS = "scdh"
NUM_RANKS = 13
NUM_CARDS = 52
HAND_SIZE = 10
KNOCK_CARD = 10
GIN_BONUS = 25
UNDERCUT_BONUS = 25
WALL_STOCK_SIZE = 2  # no draws from the stock once only two cards are left
MAX_UPCARD_DRAWS = 50  # the 50th upcard draw ends the hand as a draw
CARD_STR = [RANK_CHARS[c % NUM_RANKS] + SUIT_CHARS[c // NUM_RANKS] for c in range(NUM_CARDS)]
CARD_INT = {s: c for c, s in enumerate(CARD_STR)}


def _rank(card: int) -> int:
    return card % NUM_RANKS


def _suit(card: int) -> int:
    return card // NUM_RANKS


def _value(card: int) -> int:
    return min(10, _rank(card) + 1)  # ace 1, 2-9 face value, T J Q K 10


def _total(cards) -> int:
    return sum(_value(c) for c in cards)


# ---------------------------------------------------------------------------
# Melds. A meld is a tuple of card numbers: a set (3 or 4 cards of one rank, in suit
# order) or a run (3, 4 or 5 consecutive ranks of one suit, ascending). Longer runs are
# always expressed as two shorter melds. Melds are enumerated in a fixed order, because
# when several arrangements are equally good the first one found decides which card
# counts as "discarded" in the 11-card deadwood count (see _min_deadwood).
# ---------------------------------------------------------------------------

def _all_melds(cards: tuple[int, ...]) -> list[tuple[int, ...]]:
    melds = []
    by_rank = sorted(cards, key=lambda c: (_rank(c), c))
    n = len(by_rank)
    for i in range(n - 3):  # four of a kind, plus two of its 3-card subsets
        if _rank(by_rank[i]) == _rank(by_rank[i + 3]):
            a, b, c, d = by_rank[i:i + 4]
            melds += [(a, b, c, d), (a, b, d), (a, c, d)]
    for i in range(n - 2):  # three of a kind (consecutive in rank order)
        if _rank(by_rank[i]) == _rank(by_rank[i + 2]):
            melds.append(tuple(by_rank[i:i + 3]))
    by_suit = sorted(cards)  # card numbers already sort by suit, then rank
    for length in (5, 4, 3):  # runs
        for i in range(n - length + 1):
            lo, hi = by_suit[i], by_suit[i + length - 1]
            if hi - lo == length - 1 and _suit(lo) == _suit(hi):
                melds.append(tuple(by_suit[i:i + length]))
    return melds


def _meld_groups(cards: tuple[int, ...]) -> list[list[tuple[int, ...]]]:
    """Every maximal sequence of pairwise disjoint melds, depth first (OpenSpiel's order)."""
    groups: list[list[tuple[int, ...]]] = []

    def extend(meld, candidates, path):
        path.append(meld)
        children = [m for m in candidates if not set(m) & set(meld)]
        if not children:
            groups.append(list(path))
        for child in children:
            extend(child, children, path)
        path.pop()

    melds = _all_melds(cards)
    for meld in melds:
        extend(meld, melds, [])
    return groups


@functools.lru_cache(maxsize=65536)
def _best_group(cards: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """The first meld group with the largest total value (empty if there are no melds)."""
    best_value, best = 0, []
    for group in _meld_groups(cards):
        value = sum(_total(m) for m in group)
        if value > best_value:
            best_value, best = value, group
    return tuple(best)


@functools.lru_cache(maxsize=65536)
def _min_deadwood(cards: tuple[int, ...]) -> int:
    """Deadwood points of the best arrangement. With 11 cards (just drawn) the highest-ranked
    unmelded card of that arrangement is left out, since it would be discarded."""
    used = {c for meld in _best_group(cards) for c in meld}
    deadwood = sorted((c for c in cards if c not in used), key=lambda c: (_rank(c), c))
    if len(cards) == HAND_SIZE + 1 and deadwood:
        deadwood.pop()
    return _total(deadwood)


def _key(hand: list[int]) -> tuple[int, ...]:
    return tuple(sorted(hand))


@functools.lru_cache(maxsize=65536)
def _legal_melds(cards: tuple[int, ...], limit: int) -> list[tuple[int, ...]]:
    """Melds belonging to some arrangement that leaves at most `limit` deadwood points."""
    total = _total(cards)
    found = set()
    for group in _meld_groups(cards):
        if total - sum(_total(m) for m in group) <= limit:
            found.update(group)
    return sorted(found, key=_meld_order)


def _meld_order(meld: tuple[int, ...]):
    """Listing order of meld actions: sets before runs, then by lowest card rank, etc."""
    is_set = _rank(meld[0]) == _rank(meld[-1])
    return (0 if is_set else 1, _rank(meld[0]) if is_set else len(meld), meld)


def _meld_str(meld) -> str:
    return "".join(CARD_STR[c] for c in meld)


def _layoff_targets(melds: list[list[int]], layoffs: list[int]) -> set[int]:
    """Cards that may be laid off on the knocker's melds (OpenSpiel's rule)."""
    targets = set()
    for meld in melds:
        if _rank(meld[0]) == _rank(meld[-1]):  # a set
            if len(meld) == 3:  # the missing fourth card of that rank
                suit = next(s for s in range(4) if s not in {_suit(c) for c in meld})
                targets.add(suit * NUM_RANKS + _rank(meld[0]))
            continue
        ends = _run_ends(meld)
        extended = list(meld) + [c for c in layoffs if c in ends]  # one step only
        targets.update(_run_ends(extended))
    return targets


def _run_ends(run: list[int]) -> list[int]:
    lo, hi = min(run), max(run)
    ends = []
    if _rank(lo) > 0:
        ends.append(lo - 1)
    if _rank(hi) < NUM_RANKS - 1:
        ends.append(hi + 1)
    return ends


# ---------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------

def get_initial_state() -> State:
    return {
        "phase": "deal",  # deal, first_upcard, draw, discard, knock, layoff, wall, game_over
        "stock": list(range(NUM_CARDS)),  # cards not yet dealt, ascending
        "hands": [[], []],  # ascending card numbers
        "known": [[], []],  # cards each player took from the upcard and still holds
        "upcard": None,
        "prev_upcard": None,  # the upcard at the last draw (to detect repeated moves)
        "repeated_move": False,
        "discard_pile": [],
        "player": 0,  # the player to act (when not chance / over)
        "prev_player": 0,  # the player who drew from the stock (receives the next deal)
        "passed_first_upcard": [False, False],
        "upcard_draws": 0,
        "knocked": [False, False],
        "melds": [[], []],  # melds laid by each player, as lists of card numbers
        "layoffs": [],  # cards laid off on the knocker's melds
        "finished_layoffs": False,
        "last_action": None,
    }


def get_current_player(state: State) -> int:
    if state["phase"] == "game_over":
        return TERMINAL
    if state["phase"] == "deal":
        return CHANCE
    return state["player"]


def get_player_name(player: int) -> str:
    return {0: "player 0", 1: "player 1", CHANCE: "chance", TERMINAL: "terminal"}[player]


def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:
    if state["phase"] != "deal":
        return []
    p = 1.0 / len(state["stock"])
    return [(f"deal {CARD_STR[c]}", p) for c in state["stock"]]


def get_legal_actions(state: State) -> list[Action]:
    phase = state["phase"]
    if phase == "game_over":
        return []
    if phase == "deal":
        return [a for a, _ in get_chance_outcomes(state)]
    hand = state["hands"][state["player"]]
    if phase == "first_upcard":
        if all(state["passed_first_upcard"]):
            return ["draw stock"]
        return ["draw upcard", "pass"]
    if phase == "draw":
        return ["draw upcard", "draw stock"]
    if phase == "discard":
        actions = [f"discard {CARD_STR[c]}" for c in hand]
        if _min_deadwood(_key(hand)) <= KNOCK_CARD:
            actions.append("knock")
        return actions
    if phase == "wall":
        actions = ["pass"]
        if _min_deadwood(_key(hand + [state["upcard"]])) <= KNOCK_CARD:
            actions.append("knock")
        return actions
    if phase == "knock":
        if len(hand) == HAND_SIZE + 1:  # the knocker's discard must keep the knock valid
            return [
                f"discard {CARD_STR[c]}"
                for c in hand
                if _min_deadwood(_key([x for x in hand if x != c])) <= KNOCK_CARD
            ]
        actions = [f"meld {_meld_str(m)}" for m in _legal_melds(_key(hand), KNOCK_CARD)]
        if _total(hand) <= KNOCK_CARD:
            actions.append("pass")
        return actions
    # layoff phase: the knocker's opponent
    if not state["finished_layoffs"]:
        knocker = 1 - state["player"]
        targets = _layoff_targets(state["melds"][knocker], state["layoffs"])
        return [f"layoff {CARD_STR[c]}" for c in hand if c in targets] + ["pass"]
    return [f"meld {_meld_str(m)}" for m in _legal_melds(_key(hand), 1000)] + ["pass"]


def _remove(cards: list[int], gone) -> list[int]:
    return [c for c in cards if c not in gone]


def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    s = dict(state)  # shallow copy: every field changed below is replaced, never mutated
    phase, player = state["phase"], state["player"]
    hands = [state["hands"][0], state["hands"][1]]
    known = [state["known"][0], state["known"][1]]
    if phase == "deal":
        card = CARD_INT[action.split()[1]]
        s["stock"] = [c for c in state["stock"] if c != card]
        left = len(state["stock"])
        if left > NUM_CARDS - HAND_SIZE:  # cards 1-10 go to player 0
            hands[0] = sorted(hands[0] + [card])
        elif left > NUM_CARDS - 2 * HAND_SIZE:  # cards 11-20 to player 1
            hands[1] = sorted(hands[1] + [card])
        elif left == NUM_CARDS - 2 * HAND_SIZE:  # card 21 is the first upcard
            s["upcard"] = card
            s["phase"], s["player"] = "first_upcard", 0
        else:  # a stock draw: the card goes to the drawing player, who must discard
            receiver = state["prev_player"]
            hands[receiver] = sorted(hands[receiver] + [card])
            s["phase"], s["player"] = "discard", receiver
        s["hands"] = hands
        return s

    s["last_action"] = {"player": player, "action": action}
    words = action.split()
    if action == "draw upcard":
        if phase == "draw":
            s["upcard_draws"] = state["upcard_draws"] + 1
            if s["upcard_draws"] == MAX_UPCARD_DRAWS:
                s["phase"] = "game_over"  # too many upcard draws: the hand is a draw
                return s
        card = state["upcard"]
        s["prev_upcard"] = card
        hands[player] = sorted(hands[player] + [card])
        known[player] = known[player] + [card]
        s["upcard"] = None
        s["phase"], s["prev_player"] = "discard", player
    elif action == "draw stock":
        s["prev_upcard"] = state["upcard"]
        if state["upcard"] is not None:
            s["discard_pile"] = state["discard_pile"] + [state["upcard"]]
        s["upcard"] = None
        s["phase"], s["prev_player"] = "deal", player
    elif action == "pass" and phase == "first_upcard":
        passed = list(state["passed_first_upcard"])
        passed[player] = True
        s["passed_first_upcard"] = passed
        s["player"] = 1 - player
    elif action == "pass" and phase == "wall":
        s["phase"] = "game_over"  # nobody knocked: the hand is a draw
    elif action == "knock":
        if phase == "wall":  # at the wall a knock takes the upcard
            hands[player] = sorted(hands[player] + [state["upcard"]])
            known[player] = known[player] + [state["upcard"]]
            s["upcard"] = None
        knocked = list(state["knocked"])
        knocked[player] = True
        s["knocked"] = knocked
        s["prev_player"] = player
        s["phase"] = "knock"
    elif words[0] == "discard" and phase == "discard":
        card = CARD_INT[words[1]]
        hands[player] = _remove(hands[player], {card})
        known[player] = _remove(known[player], {card})
        s["upcard"] = card
        s["prev_player"], s["player"] = player, 1 - player
        if card == state["prev_upcard"]:  # threw back the upcard just taken
            if state["repeated_move"]:
                s["phase"] = "game_over"  # twice in a row: the hand is a draw
                s["hands"], s["known"] = hands, known
                return s
            s["repeated_move"] = True
        else:
            s["repeated_move"] = False
        s["phase"] = "wall" if len(state["stock"]) == WALL_STOCK_SIZE else "draw"
    elif words[0] == "discard":  # the knocker's discard, face down on the pile
        card = CARD_INT[words[1]]
        hands[player] = _remove(hands[player], {card})
        known[player] = _remove(known[player], {card})
        s["discard_pile"] = state["discard_pile"] + [card]
    elif words[0] == "meld":
        cards = [CARD_INT[words[1][i:i + 2]] for i in range(0, len(words[1]), 2)]
        hands[player] = _remove(hands[player], set(cards))
        known[player] = _remove(known[player], set(cards))
        melds = [state["melds"][0], state["melds"][1]]
        melds[player] = melds[player] + [cards]
        s["melds"] = melds
    elif words[0] == "layoff":
        card = CARD_INT[words[1]]
        hands[player] = _remove(hands[player], {card})
        known[player] = _remove(known[player], {card})
        s["layoffs"] = state["layoffs"] + [card]
    elif phase == "knock":  # pass: the knocker has finished laying melds
        if _total(hands[player]) == 0:
            s["finished_layoffs"] = True  # gin: no laying off
        s["phase"], s["player"] = "layoff", 1 - player
    elif not state["finished_layoffs"]:  # pass: done laying off
        s["finished_layoffs"] = True
    else:  # pass: done laying melds, the hand is over
        s["phase"] = "game_over"
    s["hands"], s["known"] = hands, known
    return s


def get_rewards(state: State) -> list[float]:
    if state["phase"] != "game_over" or not any(state["knocked"]):
        return [0.0, 0.0]
    knocker = 0 if state["knocked"][0] else 1
    mine = _total(state["hands"][knocker])
    theirs = _total(state["hands"][1 - knocker])
    score = theirs - mine
    if mine == 0:
        score += GIN_BONUS
    if score < 0:
        score -= UNDERCUT_BONUS
    rewards = [0.0, 0.0]
    rewards[knocker], rewards[1 - knocker] = float(score), float(-score)
    return rewards


def _cards(cards) -> list[str]:
    return [CARD_STR[c] for c in sorted(cards)]


def get_observations(state: State) -> list[dict[str, Any]]:
    to_move = get_current_player(state)
    over_after_knock = state["phase"] == "game_over" and any(state["knocked"])
    obs = []
    for p in range(2):
        o = 1 - p
        shown = state["hands"][o] if (state["knocked"][o] or over_after_knock) else state["known"][o]
        obs.append(
            {
                "to_move": to_move,
                "phase": state["phase"],
                "hand": _cards(state["hands"][p]),
                "opponent_hand_size": len(state["hands"][o]),
                "opponent_known": _cards(shown),
                "upcard": None if state["upcard"] is None else CARD_STR[state["upcard"]],
                "discard_pile": [CARD_STR[c] for c in state["discard_pile"]],
                "stock_size": len(state["stock"]),
                "upcard_draws": state["upcard_draws"],
                "knocked": list(state["knocked"]),
                "melds": [[_meld_str(m) for m in state["melds"][q]] for q in range(2)],
                "layoffs": [CARD_STR[c] for c in state["layoffs"]],
                "last_action": None if state["last_action"] is None else dict(state["last_action"]),
            }
        )
    return obs


def _cards_in(obs: dict[str, Any]) -> set[str]:
    """Every card named anywhere in an observation."""
    cards = set(obs["hand"]) | set(obs["opponent_known"]) | set(obs["discard_pile"])
    cards |= set(obs["layoffs"]) | ({obs["upcard"]} - {None})
    for melds in obs["melds"]:
        for meld in melds:
            cards.update(meld[i:i + 2] for i in range(0, len(meld), 2))
    return cards


def resample_history(obs_action_history: list[dict[str, Any]], player_id: int) -> list[Action]:
    """A full action list consistent with what `player_id` observed.

    Every non-chance action is public (`last_action`); we see the upcards, our own draws,
    every card the opponent discards, melds or lays off, and the opponent's whole hand once
    they knock (or the hand ends after a knock). Only the opponent's dealt and stock-drawn
    cards that were never shown are unknown: we give them cards that appear in no
    observation, at random. Which hidden card arrived when changes nothing we observe, so
    each shown card is simply matched with any hidden card still in the opponent's hand.
    """
    me = player_id
    steps = len(obs_action_history) - 1
    plan: list[Any] = []  # action strings, or an int: the slot of a hidden opponent card
    hidden: list[int] = []  # slots of the hidden cards in the opponent's hand
    num_slots = 0
    identity: dict[int, str] = {}
    opp_known: list[str] = []  # opponent cards we know (taken upcards, shown hand)

    def shown(card: str) -> None:
        """The opponent's card `card` becomes known; if it was not known, it was hidden."""
        if card not in opp_known:
            identity[hidden.pop()] = card
            opp_known.append(card)

    for t in range(steps):
        entry = obs_action_history[t]
        obs, nxt = entry["observation"], obs_action_history[t + 1]["observation"]
        if obs["to_move"] == CHANCE:
            mine = [c for c in nxt["hand"] if c not in obs["hand"]]
            if mine:  # dealt or drawn by us
                plan.append(f"deal {mine[0]}")
            elif obs["upcard"] is None and nxt["upcard"] is not None:  # the first upcard
                plan.append(f"deal {nxt['upcard']}")
            else:  # a card for the opponent, face down
                plan.append(num_slots)
                hidden.append(num_slots)
                num_slots += 1
            continue
        if obs["to_move"] == me:
            plan.append(entry["action"])
        else:
            action = nxt["last_action"]["action"]
            plan.append(action)
            word, _, arg = action.partition(" ")
            took = action in ("draw upcard", "knock") and nxt["upcard"] is None
            if took and obs["upcard"] is not None:
                opp_known.append(obs["upcard"])  # took the upcard in plain sight
            cards = [arg[i:i + 2] for i in range(0, len(arg), 2)] if word == "meld" else [arg]
            if word in ("discard", "layoff", "meld"):
                for card in cards:
                    shown(card)
                    opp_known.remove(card)
        for card in nxt["opponent_known"]:  # a knock shows the whole hand
            shown(card)

    seen: set[str] = set()
    for entry in obs_action_history:
        seen |= _cards_in(entry["observation"])
    unseen = [c for c in CARD_STR if c not in seen and c not in identity.values()]
    random.shuffle(unseen)
    for slot in hidden:
        identity[slot] = unseen.pop()
    return [a if isinstance(a, str) else f"deal {identity[a]}" for a in plan]
