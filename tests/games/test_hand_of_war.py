"""Property tests for Hand of War, the seed's 16-card A/K/Q/J battle (no OpenSpiel counterpart).

The main check replays games of an independent, physical implementation (a shuffled deck
split into two real draw piles; burned cards are real pile cards) through the golden, whose
piles are only counts and whose draws are lazy chance events: both must agree on every
legal move, on the score and on the end.
"""

from __future__ import annotations

import copy
import math
import random

import pytest

from gamecwm_jax.games import CHANCE, TERMINAL, get_game
from gamecwm_jax.games.play import observation_history, random_trajectory, replay

GAME = get_game("hand_of_war")
G = GAME.load_golden()
STRENGTH = {"J": 1, "Q": 2, "K": 3, "A": 4}
DECK = [r + s for r in "JQKA" for s in "shdc"]


def physical_game(rng: random.Random) -> tuple[list[str], list[float], dict]:
    """One game with real piles and random plays: (the golden's actions, rewards, end state).

    Written from rules.md without the golden's lazy-draw model: the deck is shuffled, split
    8/8, hands are filled from the top of the owner's pile, ties burn the pile's top card.
    """
    deck = DECK[:]
    rng.shuffle(deck)
    piles, hands, won, pot = [deck[:8], deck[8:]], [[], []], [0, 0], 0
    actions: list[str] = []

    def fill() -> bool:  # False when someone must draw from an empty pile
        for p in (0, 1):
            while len(hands[p]) < 3:
                if not piles[p]:
                    return False
                hands[p].append(piles[p].pop(0))
                actions.append(f"deal {hands[p][-1]}")
        return True

    alive = fill()
    while alive:
        cards = [hands[p].pop(rng.randrange(len(hands[p]))) for p in (0, 1)]
        actions += [f"play {c}" for c in cards]
        s0, s1 = (STRENGTH[c[0]] for c in cards)
        if s0 != s1:
            won[0 if s0 > s1 else 1] += 2 + pot
            pot = 0
            alive = fill()
            continue
        pot += 2
        for p in (0, 1):
            if not piles[p]:
                alive = False
                break
            piles[p].pop(0)  # burned, face down
            pot += 1
        alive = alive and bool(hands[0])
    rewards = [0.0, 0.0] if won[0] == won[1] else ([1.0, -1.0] if won[0] > won[1] else [-1.0, 1.0])
    return actions, rewards, {"won": won, "pot": pot, "piles": [len(p) for p in piles]}


@pytest.mark.parametrize("seed", range(4))
def test_golden_replays_physical_games(seed):
    rng = random.Random(seed)
    lengths = set()
    for _ in range(100):
        actions, rewards, end = physical_game(rng)
        states = replay(G, actions)  # every physical move is legal for the golden
        final = states[-1]
        assert G.get_current_player(final) == TERMINAL, "physical game over, golden goes on"
        assert all(G.get_current_player(s) != TERMINAL for s in states[:-1])
        assert G.get_rewards(final) == rewards
        obs = G.get_observations(final)[0]
        assert (obs["won"], obs["pot"], obs["draw_piles"]) == (end["won"], end["pot"], end["piles"])
        assert len(actions) <= GAME.max_game_length
        lengths.add(len(actions))
    assert len(lengths) > 5  # games end in many different ways


def test_draw_probabilities_are_those_of_a_shuffled_deck():
    """A game's chance factor is 1/16 * 1/15 * ...: the chance of that draw order in a shuffle."""
    rng = random.Random(7)
    for _ in range(50):
        actions = random_trajectory(G, rng, GAME.max_game_length + 1)
        state, prob, draws = G.get_initial_state(), 1.0, 0
        for a in actions:
            if G.get_current_player(state) == CHANCE:
                outcomes = dict(G.get_chance_outcomes(state))
                assert set(outcomes) == {f"deal {c}" for c in DECK} - {
                    x for x in actions[: actions.index(a)] if x.startswith("deal")
                }
                prob *= outcomes[a]
                draws += 1
            state = G.apply_action(state, a)
        assert math.isclose(prob, math.factorial(16 - draws) / math.factorial(16))


def test_cards_are_conserved_and_players_stay_level():
    """Hands, table, piles, win piles and pot always hold 16 cards; both sides stay level."""
    rng = random.Random(3)
    for _ in range(100):
        for state in replay(G, random_trajectory(G, rng, GAME.max_game_length + 1)):
            o0, o1 = G.get_observations(state)
            on_table = (o0["my_card"] is not None) + (o1["my_card"] is not None)
            total = len(o0["hand"]) + len(o1["hand"]) + on_table
            total += sum(o0["draw_piles"]) + sum(o0["won"]) + o0["pot"]
            assert total == 16
            if G.get_current_player(state) in (0, 1):  # level whenever a player moves
                assert o0["draw_piles"][0] == o0["draw_piles"][1]
                assert len(o0["hand"]) + (o0["my_card"] is not None) == len(o1["hand"]) <= 3
            assert not set(o0["hand"]) & set(o1["hand"])


def test_observations_hide_the_opponent_hand_and_face_down_card():
    rng = random.Random(5)
    for _ in range(50):
        states = replay(G, random_trajectory(G, rng, GAME.max_game_length + 1))
        for state in states:
            for p in (0, 1):
                other = state["hands"][1 - p] + [state["table"][1 - p]]
                text = repr(G.get_observations(state)[p])
                assert not any(f"'{c}'" in text for c in other if c)


def test_illegal_actions_raise():
    state = replay(G, ["deal As", "deal Ks", "deal Qs", "deal Ah", "deal Kh", "deal Qh"])[-1]
    for bad in ("play Ah", "play Jc", "deal Jc", "pass"):
        with pytest.raises(ValueError):
            G.apply_action(state, bad)
    with pytest.raises(ValueError):
        G.apply_action(G.get_initial_state(), "play As")


def test_resample_history_on_many_prefixes():
    rng = random.Random(11)
    for _ in range(150):
        actions = random_trajectory(G, rng, GAME.max_game_length + 1)
        actions = actions[: rng.randrange(1, len(actions) + 1)]
        for player in (0, 1):
            history = observation_history(G, actions, player)
            sampled = G.resample_history(copy.deepcopy(history), player)
            assert observation_history(G, sampled, player) == history
