"""Mutation testing: every rule mutant of every golden scores strictly below 1.0."""

import pytest

from gamecwm_jax.games import get_game, list_games
from gamecwm_jax.verify.mutants import apply_mutant, load_mutants, run_mutants

GAMES = list_games()


@pytest.fixture(scope="module")
def results(verifier):
    return run_mutants(GAMES, verifier)


@pytest.mark.parametrize("name", GAMES)
def test_game_has_five_valid_mutants(name):
    mutants = load_mutants(name)
    assert len(mutants) >= 5, f"{name}: {len(mutants)} mutants, want at least 5"
    source = get_game(name).golden_source
    names = [m["name"] for m in mutants]
    assert len(set(names)) == len(names), "duplicate mutant names"
    for mutant in mutants:
        assert {"name", "description", "find", "replace"} <= mutant.keys()
        assert apply_mutant(source, mutant) != source


@pytest.mark.parametrize("name", GAMES)
def test_every_mutant_is_killed(results, name):
    game = results["games"][name]
    assert not game.get("errors"), game["errors"]
    survivors = [m["name"] for m in game["mutants"] if not m["killed"]]
    assert not survivors, f"{name}: mutants scoring 1.0: {survivors}"


def test_apply_mutant_needs_a_unique_find():
    with pytest.raises(ValueError):
        apply_mutant("a a", {"name": "x", "find": "a", "replace": "b"})
    with pytest.raises(ValueError):
        apply_mutant("a a", {"name": "x", "find": "c", "replace": "b"})
