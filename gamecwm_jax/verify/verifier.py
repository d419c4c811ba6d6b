"""verify(completion, game) -> Report, one at a time or batched over a warm sandbox pool."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import threading
import time
import types
from typing import Any

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import score as S
from gamecwm_jax.verify.config import TIERS, RewardConfig
from gamecwm_jax.verify.plan import GoldenPlan, golden_plan, make_job
from gamecwm_jax.verify.sandbox import SandboxPool, SandboxResult
from gamecwm_jax.verify.source import Source, has_markers, parse_completion, stubbed_functions


@dataclasses.dataclass
class Report:
    """The verdict on one candidate.

    score: the reward in [0, 1]; tiers: each tier's score in [0, 1] (None where the tier
    does not apply to the game; 0.0 where it was gated or never reached); failure: the first
    failed check, with the tier and the action sequence (from the initial state) that
    reproduces it; timings in seconds; details: counts per tier, stubs, sandbox status.
    """

    game: str
    score: float
    tiers: dict[str, float | None]
    failure: S.Failure | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "score": self.score,
            "tiers": dict(self.tiers),
            "failure": self.failure.to_json() if self.failure else None,
            "timings": dict(self.timings),
            "details": self.details,
        }

    def summary(self) -> str:
        lines = [f"game: {self.game}", f"score: {self.score:.4f}"]
        for tier, value in self.tiers.items():
            lines.append(f"  {tier:12s} {'n/a' if value is None else f'{value:.4f}'}")
        if self.failure:
            lines.append(f"first failure ({self.failure.tier}): {self.failure.message}")
            if self.failure.actions is not None:
                lines.append(f"  actions: {json.dumps(self.failure.actions)}")
        for key in ("problem", "stubs", "markers", "gated", "sandbox"):
            if self.details.get(key):
                lines.append(f"{key}: {self.details[key]}")
        lines.append("timings: " + ", ".join(f"{k}={v:.3f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


@functools.lru_cache(maxsize=64)
def _golden_module(name: str) -> types.ModuleType:
    return get_game(name).load_golden()


def _applicable(plan: GoldenPlan) -> dict[str, bool]:
    return {
        "static": True,
        "dynamics": True,
        "semantics": True,
        "scenarios": bool(plan.scenarios),
        "information": plan.game.imperfect,
    }


def _constant_ok(plan: GoldenPlan) -> tuple[str, ...]:
    ok = ("get_initial_state",)
    return ok + (() if plan.game.chance else ("get_chance_outcomes",))


def tier_mean(tiers: dict[str, float | None], config: RewardConfig) -> float:
    """The weighted mean of the tiers that apply (None: the tier does not apply)."""
    weights = config.weights()
    total = sum(weights[t] for t, v in tiers.items() if v is not None)
    if total <= 0:
        return 0.0
    return max(sum(weights[t] * v for t, v in tiers.items() if v is not None) / total, 0.0)


def _combine(tiers: dict[str, float | None], config: RewardConfig) -> float:
    return tier_mean(tiers, config) ** config.reward_exponent


def score_result(
    source: Source, plan: GoldenPlan, result: SandboxResult, config: RewardConfig
) -> Report:
    """Turns the sandbox's frames into the tier scores and the reward (trusted side)."""
    applicable = _applicable(plan)
    tiers: dict[str, float | None] = {t: (0.0 if applicable[t] else None) for t in TIERS}
    frames = list(result.frames)
    end = result.end
    body = frames[:-1] if end is not None else frames
    loaded = body[0] if body and isinstance(body[0], dict) and "ok" in body[0] else None
    answers = body[1:] if loaded is not None else []
    queries = plan.queries()
    answers = (answers + [None] * len(queries))[: len(queries)]
    sandbox = {
        "stopped": result.stopped,
        "exit": result.exit,
        "finished": end is not None and bool(end.get("done")),
    }
    if end is not None and end.get("timeout"):
        sandbox["stopped"] = "query timeout"
    if end is not None and end.get("crash"):
        sandbox["stopped"] = f"harness error: {end['crash']}"
    if end is not None and end.get("violations"):
        sandbox["violations"] = end["violations"]
    details: dict[str, Any] = {"sandbox": sandbox}
    failures: list[S.Failure | None] = []

    static = S.score_static(loaded, plan)
    tiers["static"] = static.score
    failures.append(static.failure)
    details["static"] = static.details
    if not S.api_complete(loaded, plan) and config.gate_incomplete_api:
        details["gated"] = "incomplete API: only the static tier counts"
    else:
        sl = plan.slices()
        golden = _golden_module(plan.game.name)
        rollouts = answers[sl["dynamics"]]
        dynamics = S.score_dynamics(
            rollouts, plan, config.dynamics_all_or_nothing, config.purity_share
        )
        semantics = S.score_semantics(
            answers[sl["semantics"]],
            rollouts,
            plan,
            golden,
            config.semantics_candidate_share,
            config.resync_moves,
            config.aspect_weights(),
            config.resync_alike_first,
            config.semantics_range_share,
        )
        results = {"dynamics": dynamics, "semantics": semantics}
        if applicable["scenarios"]:
            results["scenarios"] = S.score_scenarios(answers[sl["scenarios"]], plan)
        if applicable["information"]:
            results["information"] = S.score_information(
                answers[sl["resample"]],
                answers[sl["semantics"]],
                answers[sl["leak"]],
                plan,
                golden,
                config.information_leak_share,
                config.leak_pairs,
                rollouts,
            )
        for tier, res in results.items():
            tiers[tier] = res.score
            failures.append(res.failure)
            details[tier] = res.details
        if config.gate_dynamics > 0 and dynamics.score < config.gate_dynamics:
            details["gated"] = (
                f"dynamics {dynamics.score:.3f} < {config.gate_dynamics}: semantic tiers count 0"
            )
            details["ungated"] = {
                t: tiers[t]
                for t in ("semantics", "scenarios", "information")
                if tiers[t] is not None
            }
            for t in details["ungated"]:
                tiers[t] = 0.0
    factor = 1.0
    stubs = stubbed_functions(source.tree, plan.game.required_functions, _constant_ok(plan))
    if stubs:
        details["stubs"] = stubs
        factor *= 1.0 - config.stub_penalty
        if tiers["information"] is not None:
            tiers["information"] = 0.0
    elif has_markers(source.code):
        details["markers"] = True
        factor *= 1.0 - config.marker_penalty
    score = _combine(tiers, config) * factor
    failure = next((f for f in failures if f is not None), None)
    if failure is None and stubs:
        failure = S.Failure("static", f"stubbed functions: {stubs}", [])
    return Report(plan.game.name, score, tiers, failure, {}, details)


def game_of(plan: GoldenPlan) -> str:
    return plan.game.name


def _unrunnable(source: Source, game: str, config: RewardConfig, plan: GoldenPlan) -> Report:
    applicable = _applicable(plan)
    tiers = {t: (0.0 if applicable[t] else None) for t in TIERS}
    return Report(
        game, 0.0, tiers, S.Failure("static", source.problem, []), {}, {"problem": source.problem}
    )


class Verifier:
    """A pool of sandboxed workers and the trusted scorer; use as a context manager.

    with Verifier() as v:
        rewards = [r.score for r in v.verify_batch([(completion, "tic_tac_toe"), ...])]
    """

    def __init__(self, num_workers: int | None = None, config: RewardConfig | None = None):
        self.config = config or RewardConfig()
        self.pool = SandboxPool(num_workers)

    def verify(
        self, completion: str, game: str, seed: int = 0, config: RewardConfig | None = None
    ) -> Report:
        return self.verify_batch([(completion, game)], seed=seed, config=config)[0]

    def verify_batch(
        self, items: list[tuple[str, str]], seed: int = 0, config: RewardConfig | None = None
    ) -> list[Report]:
        """Verifies (completion, game) pairs in parallel; the reports come back in order."""
        config = config or self.config
        start = time.perf_counter()
        reports: list[Report | None] = [None] * len(items)
        prepared = []
        for i, (completion, game) in enumerate(items):
            t0 = time.perf_counter()
            source = parse_completion(completion)
            t1 = time.perf_counter()
            plan = golden_plan(game, seed, config)
            t2 = time.perf_counter()
            timings = {"extract_s": t1 - t0, "plan_s": t2 - t1}
            if source.problem is not None:  # nothing that can run
                reports[i] = _unrunnable(source, game, config, plan)
                reports[i].timings = dict(timings, total_s=time.perf_counter() - t0)
                continue
            # dispatched at once, so sandboxes run while the next items are prepared
            prepared.append(
                (i, source, plan, timings, self.pool.submit(make_job(source.code, plan, config)))
            )
        for i, source, plan, timings, future in prepared:
            result = future.result()
            t0 = time.perf_counter()
            try:
                report = score_result(source, plan, result, config)
            except Exception as e:  # noqa: BLE001 - only forged frames get here
                report = _unrunnable(
                    Source(
                        source.code,
                        None,
                        f"malformed answers from the sandbox ({type(e).__name__}: {e})",
                    ),
                    game_of(plan),
                    config,
                    plan,
                )
            report.timings = dict(
                timings, sandbox_s=result.wall_s, score_s=time.perf_counter() - t0
            )
            reports[i] = report
        total = time.perf_counter() - start
        for report in reports:
            report.timings["batch_s"] = total
        return reports  # type: ignore[return-value]

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: Verifier | None = None
_shared_lock = threading.Lock()


def shared_verifier() -> Verifier:
    """A process-wide Verifier (created on first use, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Verifier()
            atexit.register(_shared.close)
        return _shared


def verify(code: str, game: str, seed: int = 0, config: RewardConfig | None = None) -> Report:
    """Verifies one completion or module source against `game` (see Verifier)."""
    return shared_verifier().verify(code, game, seed=seed, config=config)
