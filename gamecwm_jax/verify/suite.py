"""Coverage suites: golden trajectories the semantics tier replays next to its random ones.

`games/<game>/coverage.json` holds a few action sequences (chance outcomes included) chosen
from golden play so that, replayed as the verifier replays them, they execute every arc
(line-to-line transition, i.e. every branch) of golden.py that random play reaches, and
expose every behaviour-different mutant of one generated pool (`ast_mutants.py`). Random
rollouts alone reach rare rules (a bust at exactly 21, a dead position in chess) too
seldom within the verifier's step budget; a suite reaches them every time.

This module holds the pure parts: the greedy selection, and reading a suite for the plan.
`mutate.py` measures and writes suites.
"""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Hashable

from gamecwm_jax.games.registry import TERMINAL, Game

SUITE_FILE = "coverage.json"


def golden_digest(source: str) -> str:
    """The golden a suite was made for (a suite of another golden is stale)."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def greedy_cover(needs: list[dict[Hashable, int]], overhead: float = 10.0) -> list[tuple[int, int]]:
    """A small set of trajectory prefixes that covers every element any trajectory covers.

    needs[j] maps each element trajectory j covers (an arc, a mutant it exposes) to the
    prefix length, in actions, that it takes. Greedy set cover, weighted by cost: each round
    takes the trajectory with the most uncovered elements per replayed step
    (gain / (prefix + overhead), where `overhead` stands for the per-trace cost), cut just
    after the last of them. Returns [(trajectory index, prefix length)] in selection order.
    Greedy is within a log factor of the optimum; good enough, and deterministic (ties go to
    the lower index).
    """
    uncovered = set().union(*needs) if needs else set()
    chosen: list[tuple[int, int]] = []
    while uncovered:
        best: tuple[float, int, int] | None = None
        for j, need in enumerate(needs):
            gain = [need[e] for e in need if e in uncovered]
            if not gain:
                continue
            length = max(gain)
            value = len(gain) / (length + overhead)
            if best is None or value > best[0]:
                best = (value, j, length)
        assert best is not None  # every uncovered element is in some needs[j]
        _, j, length = best
        uncovered -= {e for e, k in needs[j].items() if k <= length}
        chosen.append((j, length))
    return chosen


def read_suite(game: Game) -> dict | None:
    path = game.path / SUITE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def suite_trajectories(game: Game, golden: types.ModuleType) -> list[list[str]]:
    """The suite's action sequences, each cut before the first action the golden refuses.

    A suite made for an older golden may hold actions the current one refuses; cutting them
    keeps every golden at 1.0 until the suite is regenerated (a test flags stale suites).
    """
    suite = read_suite(game)
    if not suite:
        return []
    out = []
    for entry in suite["trajectories"]:
        state = golden.get_initial_state()
        kept: list[str] = []
        for action in entry["actions"]:
            if golden.get_current_player(state) == TERMINAL:
                break
            if action not in golden.get_legal_actions(state):
                break
            state = golden.apply_action(state, action)
            kept.append(action)
        if kept:
            out.append(kept)
    return out
