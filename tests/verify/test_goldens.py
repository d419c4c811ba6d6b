"""Every golden scores 1.0 on every tier, deterministically."""

import pytest

from gamecwm_jax.games import get_game, list_games

GAMES = list_games()


def test_every_golden_scores_one_on_every_tier(verifier):
    reports = verifier.verify_batch([(get_game(g).golden_source, g) for g in GAMES])
    bad = {}
    for name, report in zip(GAMES, reports):
        game = get_game(name)
        tiers = report.tiers
        assert (tiers["information"] is None) == (not game.imperfect), name
        if report.score != 1.0 or any(v not in (None, 1.0) for v in tiers.values()):
            bad[name] = (report.score, tiers, report.failure)
    assert not bad, bad


def test_same_seed_same_report_and_seed_matters(verifier):
    code = get_game("tic_tac_toe").golden_source.replace(
        "[(0, 0), (1, 1), (2, 2)], ", ""
    )  # a mutant: no main diagonal
    a = verifier.verify(code, "tic_tac_toe", seed=3)
    b = verifier.verify(code, "tic_tac_toe", seed=3)
    assert a.score == b.score and a.tiers == b.tiers and a.score < 1.0
    assert a.failure.to_json() == b.failure.to_json()


@pytest.mark.parametrize("name", ["matching_pennies", "kuhn_poker"])
def test_golden_in_a_fenced_completion(verifier, name):
    completion = (
        "Here is the implementation.\n\n```python\n"
        + get_game(name).golden_source
        + "```\n\nThis module implements the rules."
    )
    assert verifier.verify(completion, name).score == 1.0


def test_observations_compare_as_json_values(verifier):
    """Tuples for lists, 2.0 for 2 and key order do not count as disagreements."""
    code = get_game("tic_tac_toe").golden_source.replace(
        'obs = {"board": ["".join(row) for row in state["board"]], "to_move": get_current_player(state)}',
        'obs = {"to_move": float(get_current_player(state)), '
        '"board": tuple("".join(row) for row in state["board"])}',
    )
    assert code != get_game("tic_tac_toe").golden_source
    assert verifier.verify(code, "tic_tac_toe").score == 1.0
