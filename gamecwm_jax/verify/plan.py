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
from gamecwm_jax.games.play import choose_action, observation_history, random_trajectory
from gamecwm_jax.games.registry import TERMINAL, Game
from gamecwm_jax.verify import _harness
from gamecwm_jax.verify.config import RewardConfig
from gamecwm_jax.verify.ranges import GoldenRanges
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
    # Golden-driven traces: action sequences (random golden games today) and the golden's
    # record along each; built by `golden_records`, which also picks `semantic_illegal`.
    semantic_actions: list[list[str]]
    semantic_traces: list[dict]
    mean_length: float  # mean golden game length (capped)
    scenarios: list[dict[str, Any]]
    # information tier (imperfect games)
    resample_queries: list[dict[str, Any]]  # {"actions", "player", "seed"}
    golden_histories: list[Any]  # the golden's obs_action_history of each query
    leak_actions: list[list[str]]  # golden resamples of the query histories
    leak_traces: list[dict]
    # per golden-driven trace and state: action strings the golden rejects there
    semantic_illegal: list[list[list[str]]] = dataclasses.field(default_factory=list)
    # The action strings the golden uses (legal actions and chance outcomes along the
    # golden-driven traces, scenario actions): candidate-driven games prefer these, so the
    # golden can follow them (empty: the candidate draws among all its legal actions).
    vocabulary: list[str] = dataclasses.field(default_factory=list)
    # The coverage suite's longest games, which the candidate also plays as games of its
    # own (after the random ones) through a notation of its own (`_harness._rollout`).
    guided_scripts: list[list[str]] = dataclasses.field(default_factory=list)
    # The range of the golden's answers along the golden-driven traces, for the
    # candidate's states the golden cannot follow (`ranges`; None: not checked).
    ranges: GoldenRanges | None = None

    def illegal_for(self, i: int) -> list[list[str]] | None:
        """The rejection probes of golden-driven trace i (None where none were picked)."""
        return self.semantic_illegal[i] if i < len(self.semantic_illegal) else None

    def queries(self) -> list[dict[str, Any]]:
        """The candidate's queries, in the order the scorer reads the results."""
        # the candidate's own games: the random ones, then those following a script
        games = [(s, None) for s in self.dynamics_seeds] + [
            (f"{self.seed}:{self.game.name}:guided:{i}", script)
            for i, script in enumerate(self.guided_scripts)
        ]
        out: list[dict[str, Any]] = [
            {"kind": "rollout", "seed": s, "max_steps": self.rollout_steps}
            | (
                {}
                if script is None
                else {"max_steps": max(self.rollout_steps, len(script)), "script": script}
            )
            | ({"prefer": self.vocabulary} if self.vocabulary else {})
            | ({"resample_player": i % self.game.num_players} if self.resample_queries else {})
            for i, (s, script) in enumerate(games)
        ]
        out += [
            {"kind": "trace", "actions": a, "illegal": self.illegal_for(i)}
            for i, a in enumerate(self.semantic_actions)
        ]
        out += [{"kind": "trace", "actions": s["actions"]} for s in self.scenarios]
        out += [dict(q, kind="resample") for q in self.resample_queries]
        out += [{"kind": "trace", "actions": a} for a in self.leak_actions]
        return out

    def slices(self) -> dict[str, slice]:
        sizes = [
            ("dynamics", len(self.dynamics_seeds) + len(self.guided_scripts)),
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


def _query_cut(golden: Any, actions: list[str], player: int, rng: random.Random) -> int:
    """Where a resample query cuts a game: the whole game (the most constrained history) a
    quarter of the time, else a random state at which `player` is to move.

    ISMCTS resamples at its own decision points, and those are where something can be
    pending and hidden from the player (a bid just made by the opponent, say); a uniformly
    random cut of a long game misses them too often for the few queries a long game gets.
    A player that never moves in the prefix falls back to any cut.
    """
    if rng.random() < 0.25 or not actions:
        return len(actions)
    state, own = golden.get_initial_state(), []
    for t, action in enumerate(actions):
        if t >= 1 and golden.get_current_player(state) == player:
            own.append(t)
        state = golden.apply_action(state, action)
    return rng.choice(own) if own else rng.randint(1, len(actions))


def golden_records(
    golden: Any, sequences: list[list[str]], num_players: int, probes: int, rng: random.Random
) -> tuple[list[dict], list[list[list[str]]]]:
    """The golden's trace along each action sequence, and per state up to `probes` action
    strings the golden rejects there (its apply_action raises): one well-formed (an action
    legal elsewhere in the same game, e.g. an occupied cell or the other player's move),
    the rest malformed (a legal action with a stray suffix). A candidate must raise on
    them too, so an apply_action that ignores what it does not understand earns nothing."""
    traces, illegal = [], []
    for actions in sequences:
        record = _harness.trace(golden, actions, num_players)
        traces.append(record)
        pool = sorted({a for rec in record["states"] for a in (rec["l"] or [])} | set(actions))
        state = golden.get_initial_state()
        per_state = []
        for t, rec in enumerate(record["states"]):
            legal = set(rec["l"] or [])
            wanted = []
            if probes > 0:
                formed = [a for a in pool if a not in legal]
                if formed:
                    wanted.append(rng.choice(formed))
                base = sorted(legal) or pool or ["x"]
                while len(wanted) < probes:
                    wanted.append(rng.choice(base) + rng.choice(("#", " ?", "_0", "!")))
            per_state.append([a for a in wanted if _golden_rejects(golden, state, a)])
            if t < len(actions):
                state = golden.apply_action(state, actions[t])
        illegal.append(per_state)
    return traces, illegal


def _golden_rejects(golden: Any, state: Any, action: str) -> bool:
    try:
        golden.apply_action(copy.deepcopy(state), action)
    except Exception:  # noqa: BLE001 - any exception is a rejection
        return True
    return False


def _end_rewards(
    golden: Any, name: str, seed: int, steps: int, budget: int, n: int
) -> list[list[float]]:
    """The rewards at the end of random golden games (`budget` actions in all, each game
    at most `steps`): more of the vectors a game can end with than the traces show."""
    out = []
    for i in range(budget // max(steps, 1)):
        rng = rng_for(seed, name, "ends", i)
        state = golden.get_initial_state()
        for _ in range(steps):
            if golden.get_current_player(state) == TERMINAL:
                break
            state = golden.apply_action(state, choose_action(golden, state, rng))
        if golden.get_current_player(state) == TERMINAL:
            out.append([float(x) for x in golden.get_rewards(state)][:n])
    return out


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
    semantic_traces, semantic_illegal = golden_records(
        golden, semantic_actions, n, config.illegal_probes, rng_for(seed, name, "illegal")
    )
    mean_length = sum(len(a) for a in semantic_actions) / max(len(semantic_actions), 1)
    resample_queries, golden_histories, leak_actions = [], [], []
    if game.imperfect:
        rng = rng_for(seed, name, "resample")
        queries, samples = _resample_budget(config, n, mean_length)
        for q in range(queries):
            player = q % n
            actions = semantic_actions[(q // n) % len(semantic_actions)]
            cut = _query_cut(golden, actions, player, rng)
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
    leak_traces = [_harness.trace(golden, a, n) for a in leak_actions]
    guided: list[list[str]] = []
    if config.coverage_suites:  # after the resample queries, which index the random games
        suite = suite_trajectories(game, golden)
        guided = sorted(suite, key=len, reverse=True)[: config.guided_rollouts]
        suite_traces, suite_illegal = golden_records(
            golden, suite, n, config.illegal_probes, rng_for(seed, name, "illegal-suite")
        )
        semantic_actions = semantic_actions + suite
        semantic_traces = semantic_traces + suite_traces
        semantic_illegal = semantic_illegal + suite_illegal
    vocabulary: set[str] = set()
    if config.candidate_vocabulary:
        for record in semantic_traces:
            for rec in record["states"]:
                vocabulary.update(rec["l"] or [])
                vocabulary.update(a for a, _ in rec["c"] or [])
        for scenario in game.scenarios():
            vocabulary.update(scenario["actions"])
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
        semantic_illegal=semantic_illegal,
        vocabulary=sorted(vocabulary),
        guided_scripts=guided,
        ranges=GoldenRanges.from_records(
            [rec for record in semantic_traces for rec in record["states"]]
            + [
                {"p": TERMINAL, "r": r}
                for r in _end_rewards(golden, name, seed, steps, config.range_step_budget, n)
            ],
            n,
            shortest=min(
                (
                    len(record["states"])
                    for record in semantic_traces
                    if record["states"] and record["states"][-1].get("p") == TERMINAL
                ),
                default=1,
            ),
        ),
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
