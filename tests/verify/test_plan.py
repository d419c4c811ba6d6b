"""The golden plan's resample queries: where histories are cut."""

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.games.play import replay
from gamecwm_jax.verify import RewardConfig
from gamecwm_jax.verify.plan import golden_plan


@pytest.mark.parametrize("name", ["goofspiel", "kuhn_poker", "liars_dice"])
def test_resample_queries_cut_whole_games_or_at_the_players_own_turn(name):
    """ISMCTS resamples at its own decisions; a long game gets few queries, so a cut that
    lands between turns (after a chance event, at the opponent's turn) would be wasted."""
    plan = golden_plan(name, 0, RewardConfig())
    golden = get_game(name).load_golden()
    games = plan.semantic_actions
    own_turn = whole = 0
    for q in plan.resample_queries:
        actions, player = q["actions"], q["player"]
        if any(actions == g for g in games):
            whole += 1
            continue
        assert golden.get_current_player(replay(golden, actions)[-1]) == player, q
        own_turn += 1
    assert own_turn and whole  # both kinds occur
