"""Property tests for Quadranto (a novel game: no OpenSpiel counterpart to compare with)."""

from __future__ import annotations

import random

import pytest

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import observation_history, random_trajectory, replay

GAME = get_game("quadranto")
G = GAME.load_golden()
ALL_CELLS = [[r, c] for r in range(4) for c in range(4)]


def _quadrant(cell):
    return 2 * (cell[0] // 2) + cell[1] // 2


def _random_games(n, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        yield random_trajectory(G, rng, GAME.max_game_length + 1)


def _state_after(actions):
    return replay(G, actions)[-1]


def test_random_play_invariants():
    """Turn order, tokens never sharing a cell before a catch, results matching the true
    hider cell, length cap and rewards, on many random games."""
    for actions in _random_games(400):
        states = replay(G, actions)
        assert actions[0].startswith("hide(") and len(actions) <= 24
        for t, (state, action) in enumerate(zip(states, actions)):
            player = G.get_current_player(state)
            assert player == (1 if t % 2 == 0 else 0)
            nxt = states[t + 1]
            if player == 0:
                entry = nxt["seeker_log"][-1]
                assert entry.split(":")[0] == action
                hider, before = state["hider"], state["seeker"]
                if action.startswith("scan"):
                    assert (entry.endswith("yes")) == (_quadrant(hider) == int(action[5]))
                    assert not nxt["caught"]
                elif action == "search":
                    dist = abs(hider[0] - before[0]) + abs(hider[1] - before[1])
                    assert entry.endswith("yes") == (dist <= 1) == nxt["caught"]
                else:
                    assert entry.endswith("yes") == (nxt["seeker"] == hider) == nxt["caught"]
            if not nxt["caught"]:
                assert nxt["hider"] != nxt["seeker"]
        final = states[-1]
        assert G.get_current_player(final) == TERMINAL
        seeker_turns = len(final["seeker_log"])
        if final["caught"]:
            assert G.get_rewards(final) == [1.0, -1.0]
            assert final["seeker_log"][-1].endswith("yes")
        else:
            assert seeker_turns == 12 and G.get_rewards(final) == [-1.0, 1.0]
        for state in states[:-1]:
            assert G.get_rewards(state) == [0.0, 0.0]


def test_hider_steps_are_single_orthogonal_moves():
    for actions in _random_games(200, seed=1):
        states = replay(G, actions)
        for state, action in zip(states, actions):
            if G.get_current_player(state) != 1 or action.startswith("hide"):
                continue
            before = state["hider"]
            after = G.apply_action(state, action)["hider"]
            dist = abs(before[0] - after[0]) + abs(before[1] - after[1])
            assert dist == (0 if action == "stay" else 1)


def test_seeker_observation_hides_the_hider():
    """Every hiding place / hider path consistent with a seeker's results gives the seeker
    the same observation; the seeker's dict never contains the hider's cell."""
    base = ["hide(3,3)", "scan(0)", "stay", "move(E)", "move(W)"]
    other = ["hide(2,2)", "scan(0)", "move(E)", "move(E)", "move(S)"]
    a, b = _state_after(base), _state_after(other)
    assert a["hider"] != b["hider"]
    assert G.get_observations(a)[0] == G.get_observations(b)[0]
    assert G.get_observations(a)[1] != G.get_observations(b)[1]
    assert set(G.get_observations(a)[0]) == {"to_move", "seeker", "seeker_log"}


def test_hand_checked_positions():
    # search covers the four neighbours and the own cell, never diagonals
    # (seeker on (0,1): (0,2) is a neighbour, (1,2) diagonal, (2,0) at distance 3)
    for hide, expect in [("hide(0,2)", "yes"), ("hide(2,0)", "no"), ("hide(1,2)", "no")]:
        state = _state_after([hide, "move(E)", "stay", "search"])
        assert state["seeker_log"][-1] == "search:" + expect, hide
    # quadrant numbering
    assert [_quadrant(c) for c in ([0, 3], [2, 1], [3, 3], [1, 1])] == [1, 2, 3, 0]
    for q in range(4):
        state = _state_after(["hide(3,3)", f"scan({q})"])
        assert state["seeker_log"] == [f"scan({q}):{'yes' if q == 3 else 'no'}"]
    # the seeker blocks the hider: hider at (0,2) next to the seeker on (0,1)
    state = _state_after(["hide(0,2)", "move(E)"])
    assert G.get_legal_actions(state) == ["stay", "move(E)", "move(S)"]
    # apply_action rejects illegal moves
    for bad in ["move(W)", "hide(3,3)", "scan(1)", "move(N)"]:
        with pytest.raises(ValueError):
            G.apply_action(state, bad)


def test_resample_history_on_many_prefixes():
    rng = random.Random(7)
    for actions in _random_games(200, seed=2):
        prefix = actions[: rng.randrange(len(actions) + 1)]
        for player in (0, 1):
            history = observation_history(G, prefix, player)
            sampled = G.resample_history(history, player)
            assert observation_history(G, sampled, player) == history
            if player == 1:
                assert sampled == prefix  # the hider knows everything


def test_resample_varies_hidden_start():
    """The seeker's resampled hiding places cover every cell consistent with its results."""
    prefix = ["hide(3,3)", "scan(3)"]
    history = observation_history(G, prefix, 0)
    random.seed(0)
    starts = {G.resample_history(history, 0)[0] for _ in range(200)}
    assert starts == {"hide(2,2)", "hide(2,3)", "hide(3,2)", "hide(3,3)"}
