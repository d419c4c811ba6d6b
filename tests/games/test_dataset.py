"""Every game of the dataset: metadata, scenarios, interface properties, OpenSpiel agreement."""

from __future__ import annotations

import copy
import json
import math
import random

import pytest

from gamecwm_jax.games import CHANCE, TERMINAL, get_game, list_games
from gamecwm_jax.games.crosscheck import crosscheck
from gamecwm_jax.games.play import check_scenario, choose_action, observation_history, replay

GAMES = list_games()
SEED_GAMES = {
    "tic_tac_toe",
    "connect4",
    "matching_pennies",
    "prisoners_dilemma",
    "pig",
    "dots_and_boxes",
    "blackjack",
    "kuhn_poker",
    "go",
    "breakthrough",
    "first_price_auction",
    "pentago",
    "liars_dice",
    "goofspiel",
    "battleship",
    "checkers",
    "chess",
    "leduc_poker",
    "havannah",
    "negotiation",
    "poker_holdem",
    "backgammon",
    "hanabi",
    "y",
    "gen_tic_tac_toe",
    "gen_chess",
    "converge",
    "gin_rummy",
    "quadranto",
    "hand_of_war",
}


def test_dataset_names_are_the_seed_games():
    unknown = set(GAMES) - SEED_GAMES
    assert not unknown, f"games outside the seed list: {unknown}"


@pytest.mark.parametrize("name", GAMES)
def test_metadata_and_files(name):
    game = get_game(name)
    assert game.information in ("perfect", "imperfect")
    assert game.split in ("train", "test")
    assert (game.tier in (1, 2, 3, 4)) if game.split == "train" else game.tier is None
    assert game.max_game_length > 0
    assert len(game.rules) > 300, "rules.md must state the full rules"
    golden = game.load_golden()
    for fn in game.required_functions:
        assert callable(getattr(golden, fn, None)), f"golden lacks {fn}"
    assert len(game.scenarios()) >= 3
    if game.openspiel:
        assert game.load_openspiel_map() is not None


@pytest.mark.parametrize("name", GAMES)
def test_scenarios_pass(name):
    game = get_game(name)
    golden = game.load_golden()
    failures = [f for s in game.scenarios() if (f := check_scenario(golden, s))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", GAMES)
def test_random_rollouts_respect_the_interface(name):
    """Purity, determinism, chance, terminal and reward properties on random games."""
    game = get_game(name)
    golden = game.load_golden()
    rng = random.Random(0)
    for _ in range(10):
        state = golden.get_initial_state()
        for step in range(game.max_game_length + 1):
            json.dumps(state)  # JSON-like state
            player = golden.get_current_player(state)
            legal = golden.get_legal_actions(state)
            obs = golden.get_observations(state)
            rewards = golden.get_rewards(state)
            assert len(obs) == game.num_players and len(rewards) == game.num_players
            json.dumps(obs)
            assert legal == golden.get_legal_actions(copy.deepcopy(state)), "nondeterministic"
            assert len(set(legal)) == len(legal), "duplicate legal actions"
            if player == TERMINAL:
                assert legal == []
                break
            assert step < game.max_game_length, "game exceeds max_game_length"
            outcomes = golden.get_chance_outcomes(state)
            if player == CHANCE:
                assert game.chance
                assert [a for a, _ in outcomes] == legal or {a for a, _ in outcomes} == set(legal)
                assert math.isclose(sum(p for _, p in outcomes), 1.0, abs_tol=1e-9)
                assert all(p > 0 for _, p in outcomes)
            else:
                assert outcomes == [] and 0 <= player < game.num_players
            before = copy.deepcopy(state)
            action = choose_action(golden, state, rng)
            nxt = golden.apply_action(state, action)
            assert state == before, "apply_action mutated its input"
            assert nxt == golden.apply_action(state, action), "apply_action is not deterministic"
            state = nxt
        else:
            pytest.fail("no terminal state within max_game_length")


@pytest.mark.parametrize("name", [n for n in GAMES if get_game(n).imperfect])
def test_resample_history_is_consistent(name):
    game = get_game(name)
    golden = game.load_golden()
    rng = random.Random(1)
    for k in range(10):
        # a random prefix of a random game, from each player's point of view
        actions = []
        state = golden.get_initial_state()
        cut = rng.randrange(1, game.max_game_length + 1)
        while golden.get_current_player(state) != TERMINAL and len(actions) < cut:
            actions.append(choose_action(golden, state, rng))
            state = golden.apply_action(state, actions[-1])
        for player in range(game.num_players):
            history = observation_history(golden, actions, player)
            sampled = golden.resample_history(copy.deepcopy(history), player)
            assert len(sampled) == len(actions)
            assert observation_history(golden, sampled, player) == history


@pytest.mark.parametrize("name", [n for n in GAMES if get_game(n).openspiel])
def test_agrees_with_openspiel_sample(name):
    result = crosscheck(name, trajectories=30, seed=0)
    assert result.ok, "\n".join(str(m) for m in result.mismatches)
