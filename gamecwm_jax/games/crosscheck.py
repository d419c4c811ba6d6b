"""Drive a golden and OpenSpiel through the same random trajectories and compare them.

A reward is only as good as the reference behind it, and a reference checked against an
implementation nobody here wrote is far more trustworthy than one checked against its own
author's scenarios. At every step we compare the current player, the set of legal actions
(through the game's `openspiel_map.to_openspiel`), chance outcome probabilities, terminal
status and the players' returns.

    python -m gamecwm_jax.games.crosscheck --game tic_tac_toe --trajectories 1000
    python -m gamecwm_jax.games.crosscheck --game all --trajectories 100
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import types
from typing import Any

from gamecwm_jax.games.play import choose_action
from gamecwm_jax.games.registry import CHANCE, TERMINAL, Game, get_game, list_games


@dataclasses.dataclass
class Mismatch:
    trajectory: int
    step: int
    what: str
    actions: list[str]

    def __str__(self) -> str:
        return f"trajectory {self.trajectory}, step {self.step}: {self.what}\n  actions: {self.actions}"


@dataclasses.dataclass
class CrosscheckResult:
    game: str
    trajectories: int
    steps: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def load_openspiel_game(game: Game, bridge: types.ModuleType) -> Any:
    """The OpenSpiel game the metadata names (turn-based if simultaneous)."""
    import pyspiel

    if hasattr(bridge, "load_game"):
        return bridge.load_game()
    spec = game.openspiel or {}
    os_game = pyspiel.load_game(spec["game"], dict(spec.get("params", {})))
    if spec.get("turn_based"):
        os_game = pyspiel.convert_to_turn_based(os_game)
    return os_game


def _returns_close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b))


def compare_step(golden: types.ModuleType, bridge: types.ModuleType, state, os_state) -> str | None:
    """None when `state` (ours) and `os_state` agree, else what differs."""
    player = golden.get_current_player(state)
    os_player = os_state.current_player()
    if player != os_player:
        return f"current player: ours {player}, OpenSpiel {os_player}"
    os_returns = (
        list(bridge.openspiel_returns(os_state))
        if hasattr(bridge, "openspiel_returns")
        else list(os_state.returns())
    )
    if player == TERMINAL or getattr(bridge, "COMPARE_INTERMEDIATE_RETURNS", True):
        ours = [float(r) for r in golden.get_rewards(state)]
        if not _returns_close(ours, os_returns):
            return f"returns: ours {ours}, OpenSpiel {os_returns}"
    if player == TERMINAL:
        if golden.get_legal_actions(state):
            return "terminal state has legal actions"
        return None
    legal = golden.get_legal_actions(state)
    ids = {}
    for a in legal:
        i = bridge.to_openspiel(os_state, state, a)
        if i in ids:
            return f"actions {ids[i]!r} and {a!r} map to the same OpenSpiel action {i}"
        ids[i] = a
    os_legal = set(os_state.legal_actions())
    if set(ids) != os_legal:
        extra = sorted(ids[i] for i in set(ids) - os_legal)
        missing = sorted(os_state.action_to_string(os_player, i) for i in os_legal - set(ids))
        return (
            f"legal actions: ours but not OpenSpiel's {extra}; OpenSpiel's but not ours {missing}"
        )
    if player == CHANCE:
        ours = {
            bridge.to_openspiel(os_state, state, a): p for a, p in golden.get_chance_outcomes(state)
        }
        theirs = dict(os_state.chance_outcomes())
        if ours.keys() != theirs.keys() or any(
            not math.isclose(ours[i], theirs[i], abs_tol=1e-9) for i in ours
        ):
            diff = {
                ids.get(i, i): (ours.get(i), theirs.get(i))
                for i in ours.keys() | theirs.keys()
                if not math.isclose(ours.get(i, -1), theirs.get(i, -2), abs_tol=1e-9)
            }
            return f"chance probabilities (ours, OpenSpiel): {diff}"
    return None


def crosscheck(
    name: str, trajectories: int, seed: int = 0, progress: bool = False
) -> CrosscheckResult:
    """Compare the golden of `name` with OpenSpiel on `trajectories` random games."""
    game = get_game(name)
    if not game.openspiel:
        raise ValueError(f"{name} has no OpenSpiel counterpart (meta.json 'openspiel' is null)")
    bridge = game.load_openspiel_map()
    if bridge is None:
        raise ValueError(f"{name} names an OpenSpiel game but has no openspiel_map.py")
    golden = game.load_golden()
    os_game = load_openspiel_game(game, bridge)
    mismatches: list[Mismatch] = []
    steps = 0
    it = range(trajectories)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=name, unit="traj")
    for k in it:
        rng = random.Random(f"{seed}-{k}")
        state, os_state = golden.get_initial_state(), os_game.new_initial_state()
        actions: list[str] = []
        while True:
            what = compare_step(golden, bridge, state, os_state)
            if what:
                mismatches.append(Mismatch(k, len(actions), what, actions))
                break
            if golden.get_current_player(state) == TERMINAL:
                break
            if len(actions) > game.max_game_length:
                mismatches.append(Mismatch(k, len(actions), "longer than max_game_length", actions))
                break
            action = choose_action(golden, state, rng)
            os_state.apply_action(bridge.to_openspiel(os_state, state, action))
            state = golden.apply_action(state, action)
            actions.append(action)
            steps += 1
        if len(mismatches) >= 5:
            break
    return CrosscheckResult(name, trajectories, steps, mismatches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--game", required=True, help="a game name, or 'all' for every game OpenSpiel has"
    )
    parser.add_argument("--trajectories", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = (
        [n for n in list_games() if get_game(n).openspiel] if args.game == "all" else [args.game]
    )
    failed = 0
    for name in names:
        try:
            result = crosscheck(name, args.trajectories, args.seed, progress=True)
        except (ValueError, KeyError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            failed += 1
            continue
        status = "agree" if result.ok else "DISAGREE"
        print(f"{name}: {status} on {result.trajectories} trajectories ({result.steps} steps)")
        for m in result.mismatches:
            print(f"  {m}")
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
