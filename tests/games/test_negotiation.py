"""Property tests for negotiation. OpenSpiel draws its deal in one opaque sampled chance
action, so the cross-check can only compare the game after the deal; here we check the
deal distribution against OpenSpiel's own sampler and exercise every rule."""

from __future__ import annotations

import collections
import math
import random

import pytest

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import observation_history, random_trajectory, replay

GAME = get_game("negotiation")
G = GAME.load_golden()


def _deal(k, pool, v0, v1):
    return [f"turns({k})"] + [f"pool({q})" for q in pool] + [f"value({v})" for v in v0 + v1]


def test_deal_distribution_matches_openspiel_sampler():
    """Sample OpenSpiel's hidden deal and compare frequencies with our probabilities
    (loose bounds: about 5 standard deviations)."""
    pyspiel = pytest.importorskip("pyspiel")
    game = pyspiel.load_game("negotiation", {"enable_utterances": False})
    n = 6000
    turns, pool, values = collections.Counter(), collections.Counter(), collections.Counter()
    for _ in range(n):
        state = game.new_initial_state()
        state.apply_action(0)
        lines = state.serialize().split("\n")
        turns[int(lines[0])] += 1
        pool.update(int(x) for x in lines[1].split())
        for line in lines[2:4]:
            values.update(int(x) for x in line.split()[:3])  # returns use the first three

    def close(count, total, p):
        return abs(count / total - p) <= 5 * math.sqrt(p * (1 - p) / total)

    first = dict(G.get_chance_outcomes(G.get_initial_state()))
    assert all(close(turns[k], n, first[f"turns({k})"]) for k in range(4, 11))
    assert all(close(pool[q], 3 * n, 1 / 6) for q in range(6))
    assert all(close(values[v], 6 * n, 1 / 11) for v in range(11))


def test_random_play_invariants():
    rng = random.Random(0)
    for _ in range(300):
        actions = random_trajectory(G, rng, GAME.max_game_length + 1)
        states = replay(G, actions)
        final = states[-1]
        assert G.get_current_player(final) == TERMINAL
        assert len(actions) == 10 + len(final["proposals"]) + final["agreed"]
        assert len(final["proposals"]) <= final["max_turns"]
        if not final["agreed"]:
            assert len(final["proposals"]) == final["max_turns"]
            assert G.get_rewards(final) == [0.0, 0.0]
        else:
            proposal = final["proposals"][-1]
            proposer = (len(final["proposals"]) - 1) % 2
            shares = [None, None]
            shares[proposer] = proposal
            shares[1 - proposer] = [q - k for q, k in zip(final["pool"], proposal)]
            expect = [
                float(sum(v * s for v, s in zip(final["values"][p], shares[p]))) for p in (0, 1)
            ]
            assert G.get_rewards(final) == expect
        for state in states[:-1]:
            assert G.get_rewards(state) == [0.0, 0.0]
            for a in G.get_legal_actions(state):
                if a.startswith("propose"):
                    split = [int(x) for x in a[8:-1].split(",")]
                    assert all(0 <= k <= q for k, q in zip(split, state["pool"]))


def test_observations_hide_opponent_values():
    a = replay(G, _deal(6, [2, 2, 2], [1, 2, 3], [4, 5, 6]) + ["propose(1,1,1)"])[-1]
    b = replay(G, _deal(6, [2, 2, 2], [1, 2, 3], [9, 0, 0]) + ["propose(1,1,1)"])[-1]
    assert G.get_observations(a)[0] == G.get_observations(b)[0]
    assert G.get_observations(a)[1] != G.get_observations(b)[1]
    assert G.get_observations(a)[1]["my_values"] == [4, 5, 6]


def test_illegal_actions_raise():
    state = replay(G, _deal(6, [2, 0, 1], [1, 2, 3], [4, 5, 6]))[-1]
    for bad in ["accept", "propose(3,0,0)", "propose(0,1,0)", "value(3)", "propose(1, 0, 1)"]:
        with pytest.raises(ValueError):
            G.apply_action(state, bad)
    with pytest.raises(ValueError):
        G.apply_action(G.get_initial_state(), "turns(3)")


def test_resample_history_on_prefixes():
    rng = random.Random(3)
    for _ in range(200):
        actions = random_trajectory(G, rng, GAME.max_game_length + 1)
        prefix = actions[: rng.randrange(len(actions) + 1)]
        for player in (0, 1):
            history = observation_history(G, prefix, player)
            assert observation_history(G, G.resample_history(history, player), player) == history
