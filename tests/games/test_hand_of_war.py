"""Property tests for Hand of War (a novel game: no OpenSpiel counterpart to compare with)."""

from __future__ import annotations

import copy
import itertools
import json
import math
import random

import pytest

from gamecwm_jax.games import CHANCE, TERMINAL, get_game
from gamecwm_jax.games.play import choose_action, observation_history, random_trajectory, replay

GAME = get_game("hand_of_war")
G = GAME.load_golden()
CARDS = [f"{s}{r}" for r in range(1, 6) for s in "RGB"]


def _deal(p0: list[str], p1: list[str]) -> list[str]:
    """Deal actions giving player 0 the cards p0 and player 1 the cards p1."""
    return [f"deal {c}" for pair in zip(p0, p1) for c in pair]


def _play_rounds(state, pairs):
    """Play rounds given as (player 0 card, player 1 card), leader first; return the states."""
    states = []
    for pair in pairs:
        for _ in range(2):
            state = G.apply_action(state, f"play {pair[G.get_current_player(state)]}")
        states.append(state)
    return states


def _random_games(n: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(n):
        yield replay(G, random_trajectory(G, rng, GAME.max_game_length + 1))


def test_deal_alternates_with_uniform_probabilities():
    state = G.get_initial_state()
    for k in range(10):
        assert G.get_current_player(state) == CHANCE
        outcomes = G.get_chance_outcomes(state)
        assert len(outcomes) == 15 - k
        assert all(math.isclose(p, 1 / (15 - k)) for _, p in outcomes)
        # the canonical order: by rank, then suit R, G, B
        assert [a[5:] for a, _ in outcomes] == [c for c in CARDS if c not in state["dealt"]]
        card = outcomes[-1][0][5:]
        state = G.apply_action(state, f"deal {card}")
        assert card in state["hands"][k % 2]
    assert G.get_current_player(state) == 0
    assert [len(h) for h in state["hands"]] == [5, 5]


@pytest.mark.parametrize("r0,r1", list(itertools.product(range(1, 6), repeat=2)))
def test_every_rank_pair_resolves_by_the_rules(r0, r1):
    # player 0 holds rank r0 in suit R, player 1 rank r1 in suit G (plus fillers)
    p0 = [f"R{r0}"] + [f"B{r}" for r in range(1, 6) if r != r0][:4]
    p1 = [f"G{r1}"] + [c for c in CARDS if c[0] != "G" and c not in p0][:4]
    state = replay(G, _deal(p0, p1))[-1]
    state = _play_rounds(state, [(f"R{r0}", f"G{r1}")])[0]
    if r0 == r1:
        expected = None
    elif {r0, r1} == {1, 5}:
        expected = 0 if r0 == 1 else 1
    else:
        expected = 0 if r0 > r1 else 1
    assert state["history"][-1]["winner"] == expected
    if expected is None:
        assert state["pot"] == [f"R{r0}", f"G{r1}"] and state["captured"] == [0, 0]
        assert G.get_current_player(state) == 0  # the leader stays
    else:
        assert state["pot"] == [] and state["captured"][expected] == 2
        assert G.get_current_player(state) == expected  # the winner leads


def test_pot_accumulates_over_consecutive_ties_and_goes_to_next_winner():
    p0, p1 = ["R1", "R2", "R3", "R4", "R5"], ["G1", "G2", "G3", "B4", "G5"]
    state = replay(G, _deal(p0, p1))[-1]
    states = _play_rounds(state, [("R2", "G2"), ("R3", "G3"), ("R4", "G1")])
    assert states[0]["pot"] == ["R2", "G2"]
    assert states[1]["pot"] == ["R2", "G2", "R3", "G3"]
    assert states[2]["pot"] == [] and states[2]["captured"] == [6, 0]


def test_random_games_invariants():
    for states in _random_games(300):
        assert len(states) == 21  # always 10 deals and 10 plays
        final = states[-1]
        assert G.get_current_player(final) == TERMINAL
        for s in states:
            rounds = len(s["history"])
            assert sum(s["captured"]) + len(s["pot"]) == 2 * rounds
            assert sum(c is not None for c in s["table"]) <= 1
            if G.get_current_player(s) != TERMINAL:
                assert G.get_rewards(s) == [0.0, 0.0]
        a, b = final["captured"]
        assert G.get_rewards(final) == (
            [1.0, -1.0] if a > b else [-1.0, 1.0] if b > a else [0.0, 0.0]
        )
        # every card played was dealt to its player, each card at most once
        played = [c for h in final["history"] for c in h["cards"]]
        assert len(set(played)) == 10 and set(played) == set(final["dealt"])
        for h in final["history"]:
            for p in (0, 1):
                assert final["dealt"].index(h["cards"][p]) % 2 == p


def test_observations_hide_the_opponent_cards():
    for states in _random_games(100, seed=1):
        for s in states:
            for p, obs in enumerate(G.get_observations(s)):
                revealed = {c for h in s["history"] for c in h["cards"]}
                hidden = set(s["hands"][1 - p]) | ({s["table"][1 - p]} - {None})
                text = json.dumps(obs)
                for card in hidden - revealed:
                    assert f'"{card}"' not in text, (p, card, obs)
                assert obs["hand"] == s["hands"][p]
                assert obs["opponent_hand_size"] == len(s["hands"][1 - p])


def test_illegal_actions_raise():
    state = replay(G, _deal(["R1", "R2", "R3", "R4", "R5"], ["G1", "G2", "G3", "G4", "G5"]))[-1]
    for bad in ("play G1", "deal B1", "play R6", "R1", "play  R1"):
        with pytest.raises(ValueError):
            G.apply_action(state, bad)
    state = G.apply_action(state, "play R1")
    with pytest.raises(ValueError):
        G.apply_action(state, "play R2")  # player 1 is to move
    with pytest.raises(ValueError):
        G.apply_action(G.get_initial_state(), "play R1")  # the deal comes first


def test_resample_history_on_many_prefixes():
    rng = random.Random(2)
    for _ in range(300):
        actions = random_trajectory(G, rng, rng.randrange(0, 21))
        for p in (0, 1):
            history = observation_history(G, actions, p)
            sampled = G.resample_history(copy.deepcopy(history), p)
            assert observation_history(G, sampled, p) == history
