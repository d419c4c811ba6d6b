"""Property tests for Quadranto, the seed's chase on a 4x4 grid (no OpenSpiel counterpart).

The tests track both tokens themselves from the action strings (an independent model of the
rules) and compare the golden's legal moves, observations, catches and rewards with it.
"""

from __future__ import annotations

import copy
import random

import pytest

from gamecwm_jax.games import CHANCE, TERMINAL, get_game
from gamecwm_jax.games.play import observation_history, random_trajectory, replay

GAME = get_game("quadranto")
G = GAME.load_golden()
STEP = {"Up": (-1, 0), "Down": (1, 0), "Left": (0, -1), "Right": (0, 1), "Stay": (0, 0)}


def _quadrant(cell: list[int]) -> int:
    """Quadrant from the rule text's table: 1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right."""
    top, left = cell[0] <= 1, cell[1] <= 1
    return {(True, True): 1, (True, False): 2, (False, True): 3, (False, False): 4}[(top, left)]


def _random_games(n: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(n):
        yield random_trajectory(G, rng, GAME.max_game_length + 1)


def test_chance_places_player_0_top_left_then_player_1_bottom_right():
    state = G.get_initial_state()
    for player, quadrant in ((0, 1), (1, 4)):
        assert G.get_current_player(state) == CHANCE
        assert G.get_observations(state) == [{}, {}]
        outcomes = G.get_chance_outcomes(state)
        cells = [[int(a[-3]), int(a[-1])] for a, _ in outcomes]
        assert all(a.startswith(f"place_p{player}:") for a, _ in outcomes)
        assert sorted(cells) == sorted(
            [r, c] for r in range(4) for c in range(4) if _quadrant([r, c]) == quadrant
        )
        assert [p for _, p in outcomes] == [0.25] * 4
        state = G.apply_action(state, outcomes[-1][0])
    assert G.get_current_player(state) == 0


def test_random_play_follows_an_independent_model():
    outcomes = set()
    for actions in _random_games(500):
        states = replay(G, actions)
        cells = [
            [int(actions[0][-3]), int(actions[0][-1])],
            [int(actions[1][-3]), int(actions[1][-1])],
        ]
        moves, winner = 0, None
        for t in range(2, len(actions)):
            state, action = states[t], actions[t]
            mover = moves % 2
            assert G.get_current_player(state) == mover
            # legal moves: the five steps that stay on the grid, alphabetically
            expected = sorted(
                m
                for m, (dr, dc) in STEP.items()
                if 0 <= cells[mover][0] + dr < 4 and 0 <= cells[mover][1] + dc < 4
            )
            assert G.get_legal_actions(state) == expected
            dr, dc = STEP[action]
            cells[mover] = [cells[mover][0] + dr, cells[mover][1] + dc]
            moves += 1
            if cells[0] == cells[1]:
                winner = mover
            for p in (0, 1):
                obs = G.get_observations(states[t + 1])[p]
                assert obs["cell"] == cells[p]
                assert obs["opponent_quadrant"] == _quadrant(cells[1 - p])
                assert obs["moves"] == moves and obs["caught"] == (winner is not None)
        end = states[-1]
        assert G.get_current_player(end) == TERMINAL
        assert winner is not None or moves == 20
        rewards = [0.0, 0.0] if winner is None else [1.0 - 2 * winner, 2 * winner - 1.0]
        assert G.get_rewards(end) == rewards
        outcomes.add(tuple(rewards))
        assert len(actions) <= GAME.max_game_length
    assert outcomes == {(1.0, -1.0), (-1.0, 1.0), (0.0, 0.0)}


def test_observation_hides_the_opponent_cell():
    # player 1 ends on (2,3) or on (3,2): the same quadrant, so player 0 sees the same thing
    a = replay(G, ["place_p0:0,0", "place_p1:3,3", "Stay", "Up"])[-1]
    b = replay(G, ["place_p0:0,0", "place_p1:3,3", "Stay", "Left"])[-1]
    assert G.get_observations(a)[0] == G.get_observations(b)[0]
    assert G.get_observations(a)[1] != G.get_observations(b)[1]


def test_resample_history_reproduces_every_view():
    rng = random.Random(1)
    for actions in _random_games(150, seed=2):
        cut = rng.randrange(0, len(actions) + 1)
        for player in (0, 1):
            history = observation_history(G, actions[:cut], player)
            sampled = G.resample_history(copy.deepcopy(history), player)
            assert len(sampled) == cut
            assert observation_history(G, sampled, player) == history


def test_resample_varies_the_hidden_opponent():
    # after the setup only the quadrant of player 1 is known: all 4 starting cells occur
    history = observation_history(G, ["place_p0:1,1", "place_p1:2,2"], 0)
    starts = {G.resample_history(copy.deepcopy(history), 0)[1] for _ in range(200)}
    assert starts == {"place_p1:2,2", "place_p1:2,3", "place_p1:3,2", "place_p1:3,3"}
    # a catch by player 1 pins its last cell: it ends on player 0's cell
    actions = ["place_p0:0,0", "place_p1:3,3", "Right", "Up", "Down", "Left", "Right", "Up"]
    history = observation_history(G, actions, 0)
    for _ in range(20):
        sampled = G.resample_history(copy.deepcopy(history), 0)
        assert G.get_rewards(replay(G, sampled)[-1]) == [-1.0, 1.0]


def test_illegal_actions_raise():
    state = replay(G, ["place_p0:0,0", "place_p1:3,3"])[-1]
    for bad in ["Up", "Left", "up", "stay", "place_p0:0,0", "", "Down "]:
        with pytest.raises(ValueError):
            G.apply_action(state, bad)
    with pytest.raises(ValueError):
        G.apply_action(G.get_initial_state(), "place_p0:2,2")  # outside quadrant 1
