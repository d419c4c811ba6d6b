"""The OpenSpiel adapter lets OpenSpiel's MCTS and ISMCTS play any GameCWM module."""

import numpy as np
import pytest
from open_spiel.python.algorithms import ismcts, mcts

from gamecwm_jax.games import get_game
from gamecwm_jax.games.openspiel_adapter import from_dataset, resampler


def _play(game, bots, rng):
    """One game; bots[p] is a bot or None (uniform random)."""
    state = game.new_initial_state()
    while not state.is_terminal():
        if state.is_chance_node():
            actions, probs = zip(*state.chance_outcomes())
            state.apply_action(int(rng.choice(actions, p=probs)))
            continue
        bot = bots[state.current_player()]
        action = bot.step(state) if bot else int(rng.choice(state.legal_actions()))
        assert action in state.legal_actions()
        state.apply_action(action)
    return state


def test_mcts_beats_random_at_tic_tac_toe():
    game = from_dataset("tic_tac_toe")
    rng = np.random.RandomState(0)
    returns = []
    for k in range(8):
        bot = mcts.MCTSBot(game, 1.4, 300, mcts.RandomRolloutEvaluator(2, rng), random_state=rng)
        seat = k % 2
        state = _play(game, [bot if p == seat else None for p in range(2)], rng)
        returns.append(state.returns()[seat])
    assert np.mean(returns) >= 0.5, returns  # random play loses far more often


@pytest.mark.parametrize("name", ["connect4", "pig"])
def test_mcts_plays_board_and_chance_games(name):
    game = from_dataset(name)
    rng = np.random.RandomState(1)
    bot = mcts.MCTSBot(game, 1.4, 20, mcts.RandomRolloutEvaluator(1, rng), random_state=rng)
    state = _play(game, [bot, bot], rng)
    golden = get_game(name).load_golden()
    # the adapter's final state is the golden's own state after the same action strings
    replayed = golden.get_initial_state()
    for a in state.action_strings:
        replayed = golden.apply_action(replayed, a)
    assert replayed == state.cwm_state and golden.get_current_player(replayed) == -4


def test_ismcts_uses_resample_history():
    game = from_dataset("kuhn_poker")
    rng = np.random.RandomState(2)
    calls = []

    def counting_resampler(state, player):
        calls.append(player)
        sampled = resampler(state, player)
        # the sampled world looks the same to the player and has the same history length
        assert sampled.observation_history(player) == state.observation_history(player)
        return sampled

    bot = ismcts.ISMCTSBot(game, mcts.RandomRolloutEvaluator(1, rng), 1.4, 50, random_state=rng)
    bot.set_resampler(counting_resampler)
    for _ in range(3):
        _play(game, [bot, None], rng)
    assert calls, "ISMCTS never asked the resampler for a world"
