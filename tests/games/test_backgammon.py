"""Extra checks for backgammon: checker conservation, hits, and the turn cap (exercised
with a small cap, compared with OpenSpiel's max_player_turns)."""

from __future__ import annotations

import random

import pytest

from gamecwm_jax.games import TERMINAL, get_game
from gamecwm_jax.games.play import choose_action, random_trajectory, replay

GAME = get_game("backgammon")


def test_checkers_are_conserved_and_moves_are_legal_legs():
    golden = GAME.load_golden()
    rng = random.Random(0)
    for _ in range(5):
        states = replay(golden, random_trajectory(golden, rng, GAME.max_game_length + 1))
        for state in states:
            for p in (0, 1):
                on_board = sum(state["points"][p])
                assert on_board + state["bar"][p] + state["off"][p] == 15
            # no point holds checkers of both players
            x, o = state["points"]
            assert all(not (x[n] and o[23 - n]) for n in range(24))
        assert golden.get_current_player(states[-1]) == TERMINAL


@pytest.mark.parametrize("cap", [1, 2, 5])
def test_small_turn_cap_matches_openspiel(cap):
    pyspiel = pytest.importorskip("pyspiel")
    golden = GAME.load_golden()
    golden.MAX_TURNS = cap  # the module reads it at call time
    bridge = GAME.load_openspiel_map()
    os_game = pyspiel.load_game(
        "backgammon", {"scoring_type": "full_scoring", "max_player_turns": cap}
    )
    rng = random.Random(cap)
    for _ in range(200):
        state, os_state = golden.get_initial_state(), os_game.new_initial_state()
        length = 0
        while golden.get_current_player(state) != TERMINAL:
            assert golden.get_current_player(state) == os_state.current_player()
            action = choose_action(golden, state, rng)
            os_state.apply_action(bridge.to_openspiel(os_state, state, action))
            state = golden.apply_action(state, action)
            length += 1
        assert os_state.is_terminal() and golden.get_rewards(state) == [0.0, 0.0]
        assert length <= 3 * cap + 1
