"""Driving a GameCWM module: random rollouts, scenario replay, observation histories.

These helpers take any module implementing `games/API.md` (a golden or a trusted copy),
so the dataset tests, the OpenSpiel cross-check and the adapter share one definition of
"play a game".
"""

from __future__ import annotations

import math
import random
import types
from typing import Any

from gamecwm_jax.games.registry import CHANCE, TERMINAL

Action = str
State = dict[str, Any]


def choose_action(module: types.ModuleType, state: State, rng: random.Random) -> Action:
    """A uniformly random legal action, or a chance outcome drawn with its probability."""
    if module.get_current_player(state) == CHANCE:
        outcomes = module.get_chance_outcomes(state)
        actions = [a for a, _ in outcomes]
        weights = [p for _, p in outcomes]
        return rng.choices(actions, weights=weights, k=1)[0]
    return rng.choice(module.get_legal_actions(state))


def random_trajectory(
    module: types.ModuleType, rng: random.Random, max_length: int
) -> list[Action]:
    """Actions of one random game, cut at `max_length` actions."""
    state = module.get_initial_state()
    actions: list[Action] = []
    while module.get_current_player(state) != TERMINAL and len(actions) < max_length:
        action = choose_action(module, state, rng)
        actions.append(action)
        state = module.apply_action(state, action)
    return actions


def replay(module: types.ModuleType, actions: list[Action]) -> list[State]:
    """States s_0..s_T along `actions`; raises ValueError at the first illegal action."""
    state = module.get_initial_state()
    states = [state]
    for t, action in enumerate(actions):
        legal = module.get_legal_actions(state)
        if action not in legal:
            raise ValueError(f"step {t}: action {action!r} is not legal (legal: {legal[:20]})")
        state = module.apply_action(state, action)
        states.append(state)
    return states


def observation_history(
    module: types.ModuleType, actions: list[Action], player: int
) -> list[dict[str, Any]]:
    """The `obs_action_history` that `resample_history` receives (see games/API.md)."""
    states = replay(module, actions)
    history = []
    for t, state in enumerate(states):
        mine = t < len(actions) and module.get_current_player(state) == player
        history.append(
            {
                "observation": module.get_observations(state)[player],
                "action": actions[t] if mine else None,
            }
        )
    return history


def check_scenario(module: types.ModuleType, scenario: dict[str, Any]) -> str | None:
    """None if `module` meets the scenario, else a sentence saying what differed."""
    try:
        states = replay(module, scenario["actions"])
    except ValueError as e:
        return f"{scenario['name']}: {e}"
    state = states[-1]
    expect = scenario.get("expect", {})
    player = module.get_current_player(state)
    problems = []
    if "terminal" in expect and (player == TERMINAL) != expect["terminal"]:
        problems.append(f"terminal is {player == TERMINAL}, expected {expect['terminal']}")
    if "current_player" in expect and player != expect["current_player"]:
        problems.append(f"current player {player}, expected {expect['current_player']}")
    if "rewards" in expect:
        rewards = list(module.get_rewards(state))
        want = expect["rewards"]
        if len(rewards) != len(want) or any(
            not math.isclose(r, w, abs_tol=1e-6) for r, w in zip(rewards, want)
        ):
            problems.append(f"rewards {rewards}, expected {want}")
    legal = set(module.get_legal_actions(state))
    if "legal_actions" in expect and legal != set(expect["legal_actions"]):
        problems.append(
            f"legal actions differ: missing {sorted(set(expect['legal_actions']) - legal)}, "
            f"extra {sorted(legal - set(expect['legal_actions']))}"
        )
    if "legal_include" in expect and not set(expect["legal_include"]) <= legal:
        problems.append(f"should be legal: {sorted(set(expect['legal_include']) - legal)}")
    if "legal_exclude" in expect and set(expect["legal_exclude"]) & legal:
        problems.append(f"should be illegal: {sorted(set(expect['legal_exclude']) & legal)}")
    if "chance_outcomes" in expect:
        got = {a: p for a, p in module.get_chance_outcomes(state)}
        want = {a: p for a, p in expect["chance_outcomes"]}
        if got.keys() != want.keys() or any(
            not math.isclose(got[a], want[a], abs_tol=1e-9) for a in want
        ):
            problems.append(
                f"chance outcomes {sorted(got.items())}, expected {sorted(want.items())}"
            )
    if "observation" in expect:
        spec = expect["observation"]
        obs = module.get_observations(state)[spec["player"]]
        if obs != spec["equals"]:
            problems.append(f"player {spec['player']} observes {obs}, expected {spec['equals']}")
    if problems:
        return f"{scenario['name']}: " + "; ".join(problems)
    return None
