"""Property tests for gin rummy with the seed's rules (no OpenSpiel counterpart any more).

The main check plays games of an independent implementation written from rules.md (a real
shuffled deck and stock, its own deadwood search over meld subsets, its own lay-off and
scoring rules) with a greedy, partly random policy that knocks, melds and lays off, and
drives the golden in lock step: at every decision both must offer the same legal actions,
at every draw the golden's chance outcomes must be the cards left in the stock, and the
hand must end the same way with the same rewards.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections import Counter

import pytest

from gamecwm_jax.games import CHANCE, TERMINAL, get_game
from gamecwm_jax.games.play import observation_history, random_trajectory, replay

GAME = get_game("gin_rummy")
G = GAME.load_golden()
RANKS = "A23456789TJQK"
SUITS = "scdh"
CARDS = [r + s for s in SUITS for r in RANKS]
VALUE = {c: min(RANKS.index(c[0]) + 1, 10) for c in CARDS}


def melds_of(hand: list[str]) -> list[tuple[str, ...]]:
    """All sets and runs within `hand`, each in card order (rank counts / suit scans)."""
    out = []
    by_rank = {r: [c for c in CARDS if c in hand and c[0] == r] for r in RANKS}
    for same in by_rank.values():
        out += [m for k in (3, 4) for m in itertools.combinations(same, k)]
    for s in SUITS:
        ranks = sorted(RANKS.index(c[0]) for c in hand if c[1] == s)
        for i, j in itertools.combinations(range(len(ranks)), 2):
            if j - i >= 2 and ranks[j] - ranks[i] == j - i:
                out.append(tuple(RANKS[r] + s for r in ranks[i : j + 1]))
    return out


def best_arrangement(hand: list[str]) -> tuple[int, list[tuple[str, ...]]]:
    """(deadwood, melds) maximising the melded value over subsets of disjoint melds."""
    melds = melds_of(hand)
    best: list = [0, []]

    def search(i: int, used: frozenset, value: int, chosen: list) -> None:
        if value > best[0]:
            best[:] = [value, list(chosen)]
        for j in range(i, len(melds)):
            if not used & set(melds[j]):
                m = melds[j]
                search(j + 1, used | set(m), value + sum(VALUE[c] for c in m), chosen + [m])

    search(0, frozenset(), 0, [])
    return sum(VALUE[c] for c in hand) - best[0], best[1]


def deadwood(hand: list[str]) -> int:
    return best_arrangement(hand)[0]


def fits(table: list[list[str]], card: str) -> int | None:
    """Index of the first laid meld (with its lay-offs) that `card` extends."""
    for i, meld in enumerate(table):
        if len({c[0] for c in meld}) == 1:
            if len(meld) == 3 and card[0] == meld[0][0]:
                return i
        elif card[1] == meld[0][1]:
            ranks = [RANKS.index(c[0]) for c in meld]
            if RANKS.index(card[0]) in (min(ranks) - 1, max(ranks) + 1):
                return i
    return None


class LockStep:
    """Drives the golden alongside the independent game, checking every step."""

    def __init__(self) -> None:
        self.state = G.get_initial_state()
        self.actions: list[str] = []

    def chance(self, card: str, left: list[str]) -> None:
        assert G.get_current_player(self.state) == CHANCE
        outcomes = G.get_chance_outcomes(self.state)
        assert {a for a, _ in outcomes} == {f"deal {c}" for c in left}
        assert all(abs(p - 1 / len(left)) < 1e-12 for _, p in outcomes)
        self.step(f"deal {card}")

    def decide(self, player: int, legal: set[str], action: str) -> None:
        assert G.get_current_player(self.state) == player
        assert set(G.get_legal_actions(self.state)) == legal, self.actions
        self.step(action)

    def step(self, action: str) -> None:
        self.state = G.apply_action(self.state, action)
        self.actions.append(action)


def play(rng: random.Random, knock_p: float = 0.85, knock_at: int = 10) -> tuple[LockStep, str]:
    """One hand, independent rules vs the golden; returns the driver and how it ended.

    The player to discard knocks with probability `knock_p` once its deadwood is at most
    `knock_at` (knocking is legal at 10).
    """
    deck = CARDS[:]
    rng.shuffle(deck)
    g = LockStep()
    for i, card in enumerate(deck[:21]):
        g.chance(card, [c for c in CARDS if c not in deck[:i]])
    hands, pile, stock = [deck[:10], deck[10:20]], [deck[20]], deck[21:]
    upcard_draws = 0

    def draw_stock(p: int) -> None:
        g.chance(stock[0], stock)
        hands[p].append(stock.pop(0))

    def gains(p: int, card: str) -> bool:  # does taking `card` lower the best 10-card deadwood?
        after = min(deadwood([c for c in hands[p] + [card] if c != x]) for x in hands[p])
        return after < deadwood(hands[p]) or rng.random() < 0.15

    def drawn_ends() -> bool:
        return len(stock) < 2 or upcard_draws == 50

    player = None
    for p in (1, 0):  # the first upcard
        take = gains(p, pile[-1])
        g.decide(p, {"draw upcard", "pass"}, "draw upcard" if take else "pass")
        if take:
            hands[p].append(pile.pop())
            upcard_draws, player = 1, p
            break
    if player is None:
        player = 1
        draw_stock(1)
    while True:
        hand = hands[player]
        dw = deadwood(hand)
        legal = {f"discard {c}" for c in hand} | ({"knock"} if dw <= 10 else set())
        if dw <= knock_at and rng.random() < knock_p:
            g.decide(player, legal, "knock")
            break
        scores = {c: deadwood([x for x in hand if x != c]) for c in hand}
        low = min(scores.values())
        card = rng.choice([c for c in hand if scores[c] == low or rng.random() < 0.1])
        g.decide(player, legal, f"discard {card}")
        hand.remove(card)
        pile.append(card)
        player = 1 - player
        if gains(player, pile[-1]):
            g.decide(player, {"draw upcard", "draw stock"}, "draw upcard")
            hands[player].append(pile.pop())
            upcard_draws += 1
        else:
            g.decide(player, {"draw upcard", "draw stock"}, "draw stock")
            draw_stock(player)
        if drawn_ends():
            assert G.get_current_player(g.state) == TERMINAL
            assert G.get_rewards(g.state) == [0.0, 0.0]
            return g, "wall" if len(stock) < 2 else "upcard cap"

    knocker, defender = player, 1 - player
    gin = deadwood(hands[knocker]) == 0
    obs = G.get_observations(g.state)[defender]
    assert obs["knocker_hand"] == [c for c in CARDS if c in hands[knocker]]
    table: list[list[str]] = []
    for meld in best_arrangement(hands[knocker])[1]:
        if rng.random() < 0.9:
            legal = {"meld " + "".join(m) for m in melds_of(hands[knocker])} | {"done"}
            g.decide(knocker, legal, "meld " + "".join(meld))
            table.append(list(meld))
            hands[knocker] = [c for c in hands[knocker] if c not in meld]
    g.decide(knocker, {"meld " + "".join(m) for m in melds_of(hands[knocker])} | {"done"}, "done")
    laid = 0
    if not gin:
        while True:
            fitting = [c for c in hands[defender] if fits(table, c) is not None]
            legal = {f"layoff {c}" for c in fitting} | {"done"}
            if not fitting or rng.random() < 0.2:
                g.decide(defender, legal, "done")
                break
            card = rng.choice(fitting)
            g.decide(defender, legal, f"layoff {card}")
            table[fits(table, card)].append(card)
            hands[defender].remove(card)
            laid += 1
    k = sum(VALUE[c] for c in hands[knocker])
    d = deadwood(hands[defender])
    rewards = [0.0, 0.0]
    if gin:
        rewards[knocker], end = 25.0 + d, "gin"
    elif k < d:
        rewards[knocker], end = float(d - k), "knock"
    else:
        rewards[defender], end = 25.0 + k - d, "undercut"
    assert G.get_current_player(g.state) == TERMINAL
    assert G.get_rewards(g.state) == rewards
    return g, end + (" with lay-offs" if laid else "")


@pytest.mark.parametrize("seed", range(3))
def test_golden_agrees_with_an_independent_game(seed):
    rng = random.Random(seed)
    ends = Counter(play(rng)[1] for _ in range(15))
    assert ends["knock with lay-offs"] + ends["undercut with lay-offs"] > 0, ends
    assert sum(ends.values()) == 15


def test_every_kind_of_ending_is_reached():
    rng = random.Random(100)
    ends = Counter()
    ends.update(play(rng, knock_p=0.0)[1] for _ in range(5))  # never knock: the wall
    ends.update(play(rng)[1].split(" with")[0] for _ in range(30))
    assert {"wall", "knock", "undercut"} <= set(ends), ends


def test_gin_scores_without_layoffs():
    """A gin knock found by search over random deals: 25 + D and no lay-off phase."""
    rng = random.Random(5)
    for _ in range(400):
        g, end = play(rng, knock_p=1.0, knock_at=0)
        if end == "gin":
            assert "layoff" not in " ".join(g.actions)
            assert max(G.get_rewards(g.state)) >= 25
            return
    pytest.fail("no gin in 400 greedy hands")


def test_golden_length_bound_holds_for_back_and_forth_play():
    """Throwing the upcard back and forth is the longest kind of hand; it stays in bound."""
    rng = random.Random(2)
    for _ in range(20):
        state = G.get_initial_state()
        n = 0
        while G.get_current_player(state) != TERMINAL:
            legal = G.get_legal_actions(state)
            if G.get_current_player(state) == CHANCE:
                action = rng.choice(legal)
            elif "knock" in legal:
                action = [a for a in legal if a.startswith("discard")][-1]
            elif "draw upcard" in legal and rng.random() < 0.6:
                action = "draw upcard"
            else:
                action = rng.choice([a for a in legal if a != "knock"])
            state = G.apply_action(state, action)
            n += 1
        assert n <= GAME.max_game_length


def test_observations_hide_the_opponent_cards():
    rng = random.Random(9)
    for _ in range(8):
        for state in replay(G, play(rng)[0].actions):
            for p in (0, 1):
                shown = state["hands"][1 - p] if state["knocker"] == 1 - p else []
                hidden = [c for c in state["hands"][1 - p] if c not in shown]
                text = repr(G.get_observations(state)[p])
                assert not any(f"'{c}'" in text for c in hidden)


def test_illegal_actions_raise():
    state = G.get_initial_state()
    for card in CARDS[:21]:
        state = G.apply_action(state, f"deal {card}")
    for bad in ("draw stock", "knock", "discard As", "deal Kh", "done"):
        with pytest.raises(ValueError):
            G.apply_action(state, bad)


@pytest.mark.parametrize(
    "hand,expected",
    [
        ("As 2s 3s 4c 4d 4h 7h 8h 9h Kc Ks", 20),
        ("As 2s 3s 4s 4c 4d", 0),  # 4s goes to the run or the set, not both
        ("As 2s 3s 4s 4c 4d 5c", 5),
        ("7s 8s 9s 8c 8d 8h", 0),
        ("7s 8s 9s 8c 8d Kh", 26),
        ("Qh Kh Ah", 21),  # the ace is low only
        ("As 2s 3s 5c 5d 5h 7h 8h 9h Th Jh", 0),
    ],
)
def test_deadwood_examples(hand, expected):
    assert G.deadwood(hand.split()) == expected == deadwood(hand.split())


def test_resample_history_after_knocks_and_layoffs():
    rng = random.Random(4)
    for _ in range(12):
        actions = play(rng)[0].actions
        for cut in (len(actions), rng.randrange(22, len(actions) + 1)):
            for player in (0, 1):
                history = observation_history(G, actions[:cut], player)
                sampled = G.resample_history(copy.deepcopy(history), player)
                assert observation_history(G, sampled, player) == history


def test_resample_history_on_random_prefixes():
    rng = random.Random(6)
    for _ in range(20):
        actions = random_trajectory(G, rng, GAME.max_game_length + 1)
        actions = actions[: rng.randrange(1, len(actions) + 1)]
        for player in (0, 1):
            history = observation_history(G, actions, player)
            sampled = G.resample_history(copy.deepcopy(history), player)
            assert observation_history(G, sampled, player) == history
