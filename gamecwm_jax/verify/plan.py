"""What a candidate is asked (the queries) and what the golden answers (trusted, cached).

The golden is run here, in the trusted process, once per (game, seed, budgets); the
sandboxed child only receives action sequences and returns the candidate's answers.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import random
from typing import Any

from gamecwm_jax.games import get_game
from gamecwm_jax.games.play import observation_history, random_trajectory
from gamecwm_jax.games.registry import Game
from gamecwm_jax.verify import _worker
from gamecwm_jax.verify.config import RewardConfig
from gamecwm_jax.verify.suite import suite_trajectories


def rng_for(seed: int, game: str, *parts: Any) -> random.Random:
    """A generator derived only from (seed, game, parts): str seeds hash with SHA-512."""
    return random.Random(":".join(str(p) for p in (seed, game, *parts)))


@dataclasses.dataclass
class GoldenPlan:
    game: Game
    seed: int
    rollout_steps: int  # cap on one rollout's length
    bound_checked: bool  # rollouts run to max_game_length + 1, so the bound is checked
    dynamics_seeds: list[str]
    semantic_actions: list[list[str]]  # golden-driven random games, then the coverage suite
    semantic_traces: list[dict]  # the golden's records along them
    mean_length: float  # mean golden game length (capped)
    scenarios: list[dict[str, Any]]
    # information tier (imperfect games)
    resample_queries: list[dict[str, Any]]  # {"actions", "player", "seed"}
    golden_histories: list[Any]  # the golden's obs_action_history of each query
    leak_actions: list[list[str]]  # golden resamples of the query histories
    leak_traces: list[dict]

    def queries(self) -> list[dict[str, Any]]:
        """The candidate's queries, in the order the scorer reads the results."""
        out: list[dict[str, Any]] = [
            {"kind": "rollout", "seed": s, "max_steps": self.rollout_steps}
            for s in self.dynamics_seeds
        ]
        out += [{"kind": "trace", "actions": a} for a in self.semantic_actions]
        out += [{"kind": "trace", "actions": s["actions"]} for s in self.scenarios]
        out += [dict(q, kind="resample") for q in self.resample_queries]
        out += [{"kind": "trace", "actions": a} for a in self.leak_actions]
        return out

    def slices(self) -> dict[str, slice]:
        sizes = [
            ("dynamics", len(self.dynamics_seeds)),
            ("semantics", len(self.semantic_actions)),
            ("scenarios", len(self.scenarios)),
            ("resample", len(self.resample_queries)),
            ("leak", len(self.leak_actions)),
        ]
        out, start = {}, 0
        for name, n in sizes:
            out[name] = slice(start, start + n)
            start += n
        return out


def _budget(game: Game, config: RewardConfig, wanted: int) -> tuple[int, int, bool]:
    """(rollouts, steps per rollout, whether the length bound is checked)."""
    steps = min(game.max_game_length + 1, config.max_rollout_steps)
    rollouts = max(config.min_rollouts, min(wanted, config.step_budget // max(steps, 1)))
    return rollouts, steps, steps == game.max_game_length + 1


def _resample_budget(config: RewardConfig, n: int, mean_length: float) -> tuple[int, int]:
    """(pairs, samples per pair) within config.resample_step_budget."""
    queries, samples = config.resample_queries, config.resample_samples
    affordable = int(config.resample_step_budget // max(mean_length, 1.0))
    if affordable >= queries * samples:
        return queries, samples
    samples = max(1, min(samples, affordable // (2 * n)))
    return max(2 * n, min(queries, affordable // samples)), samples


def _with_seeded_random(seed: str, fn, *args):
    """Runs a golden function that uses the global `random`, restoring its state after."""
    saved = random.getstate()
    random.seed(seed)
    try:
        return fn(*args)
    finally:
        random.setstate(saved)


@functools.lru_cache(maxsize=256)
def golden_plan(name: str, seed: int, config: RewardConfig) -> GoldenPlan:
    game = get_game(name)
    golden = game.load_golden()
    n = game.num_players
    dyn_rollouts, steps, bound_checked = _budget(game, config, config.dynamics_rollouts)
    sem_rollouts, _, _ = _budget(game, config, config.semantics_rollouts)
    dynamics_seeds = [f"{seed}:{name}:dyn:{i}" for i in range(dyn_rollouts)]
    semantic_actions = [
        random_trajectory(golden, rng_for(seed, name, "sem", i), steps - 1)
        for i in range(sem_rollouts)
    ]
    semantic_traces = [_worker.trace(golden, a, n) for a in semantic_actions]
    mean_length = sum(len(a) for a in semantic_actions) / max(len(semantic_actions), 1)
    resample_queries, golden_histories, leak_actions = [], [], []
    if game.imperfect:
        rng = rng_for(seed, name, "resample")
        queries, samples = _resample_budget(config, n, mean_length)
        for q in range(queries):
            player = q % n
            actions = semantic_actions[(q // n) % len(semantic_actions)]
            # whole games (the most constrained histories) often, else a random prefix
            cut = (
                len(actions)
                if rng.random() < 0.25
                else rng.randint(min(1, len(actions)), len(actions))
            )
            prefix = actions[:cut]
            qseed = f"{seed}:{name}:resample:{q}"
            history = observation_history(golden, prefix, player)
            resample_queries.append(
                {"actions": prefix, "player": player, "seed": qseed, "samples": samples}
            )
            golden_histories.append(history)
            other = _with_seeded_random(
                qseed, golden.resample_history, copy.deepcopy(history), player
            )
            leak_actions.append(list(other))
    leak_traces = [_worker.trace(golden, a, n) for a in leak_actions]
    if config.coverage_suites:  # after the resample queries, which index the random games
        suite = suite_trajectories(game, golden)
        semantic_actions = semantic_actions + suite
        semantic_traces += [_worker.trace(golden, a, n) for a in suite]
    return GoldenPlan(
        game=game,
        seed=seed,
        rollout_steps=steps,
        bound_checked=bound_checked,
        dynamics_seeds=dynamics_seeds,
        semantic_actions=semantic_actions,
        semantic_traces=semantic_traces,
        mean_length=mean_length,
        scenarios=game.scenarios(),
        resample_queries=resample_queries,
        golden_histories=golden_histories,
        leak_actions=leak_actions,
        leak_traces=leak_traces,
    )


def make_job(code: str, plan: GoldenPlan, config: RewardConfig) -> dict[str, Any]:
    """The message a zygote receives: the candidate, its queries, its limits. Data only."""
    return {
        "code": code,
        "required": list(plan.game.required_functions),
        "num_players": plan.game.num_players,
        "seed": f"{plan.seed}:{plan.game.name}",
        "queries": plan.queries(),
        "limits": {
            "cpu_s": config.timeout_s + 1.0,
            "wall_s": config.timeout_s,
            "query_s": config.query_timeout_s,
            "memory_mb": config.memory_mb,
            "file_mb": config.file_mb,
            "output_mb": config.output_mb,
        },
    }
