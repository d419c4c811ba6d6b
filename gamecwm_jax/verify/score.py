"""Tier scores from the candidate's recorded answers (trusted side, plain data only).

Every tier is in [0, 1] with partial credit: the fraction of checks, steps or scenarios that
agree. Each returns a `TierResult` with the first failure and the action history that
reproduces it.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any

from gamecwm_jax.games.play import check_scenario, observation_history
from gamecwm_jax.games.registry import CHANCE, TERMINAL
from gamecwm_jax.verify import _worker
from gamecwm_jax.verify.plan import GoldenPlan, rng_for


@dataclasses.dataclass
class Failure:
    tier: str
    message: str
    actions: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TierResult:
    score: float
    failure: Failure | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _fail(current: Failure | None, tier: str, message: str, actions=None) -> Failure:
    return current or Failure(tier, message, list(actions) if actions is not None else None)


def _is_int(x) -> bool:
    return type(x) is int


def _is_num(x) -> bool:
    return type(x) in (int, float)


def _str_list(x) -> list[str] | None:
    return list(x) if isinstance(x, list) and all(type(a) is str for a in x) else None


def _outcomes(x) -> dict[str, float] | None:
    """Chance outcomes as {action: probability}, or None if malformed."""
    if not isinstance(x, list):
        return None
    out = {}
    for item in x:
        if not (
            isinstance(item, list) and len(item) == 2 and type(item[0]) is str and _is_num(item[1])
        ):
            return None
        out[item[0]] = float(item[1])
    return out


def _rewards_equal(a, b) -> bool:
    return (
        isinstance(a, list)
        and isinstance(b, list)
        and len(a) == len(b)
        and all(
            _is_num(x) and _is_num(y) and math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b)
        )
    )


# --------------------------------------------------------------------------------------
# static
# --------------------------------------------------------------------------------------


def score_static(loaded: dict | None, plan: GoldenPlan) -> TierResult:
    """Required functions with the right arity, initial-state types; a module that does
    not run (crash, timeout, exit) scores 0."""
    game = plan.game
    n = game.num_players
    if loaded is None:
        return TierResult(
            0.0,
            Failure(
                "static",
                "the candidate produced no answer (crash, exit or timeout while loading)",
                [],
            ),
            {"failed": ["runs"]},
        )
    if not loaded.get("ok"):
        return TierResult(
            0.0,
            Failure("static", f"executing the module raised {loaded.get('error')}", []),
            {"failed": ["runs"]},
        )
    checks: list[tuple[str, bool]] = []
    probe = loaded.get("probe", {})
    funcs = probe.get("funcs", {})
    for f in game.required_functions:
        status = funcs.get(f, "missing")
        checks.append((f"{f} defined", status != "missing"))
        checks.append((f"{f} takes {_worker.ARITY[f]} argument(s)", status == "ok"))
    rec = probe.get("rec")
    if probe.get("init_error"):
        checks.append((f"get_initial_state() works ({probe['init_error']})", False))
    checks.append(("get_initial_state() returns a dict", probe.get("init_type") == "dict"))
    checks.append(("the initial state is JSON-like", bool(probe.get("init_json"))))
    rec = rec or {"err": {"all": "not called"}}
    err = rec.get("err", {})
    p = rec.get("p")
    checks.append(
        (
            "get_current_player(initial) is an int player id",
            "p" not in err and _is_int(p) and (p == CHANCE or 0 <= p < n),
        )
    )
    legal = _str_list(rec.get("l"))
    checks.append(
        (
            "get_legal_actions(initial) is a non-empty list of str without duplicates",
            "l" not in err and bool(legal) and len(set(legal)) == len(legal),
        )
    )
    checks.append(
        (
            "get_chance_outcomes(initial) is a list of (action, probability)",
            "c" not in err and _outcomes(rec.get("c")) is not None,
        )
    )
    r = rec.get("r")
    checks.append(
        (
            f"get_rewards(initial) is a list of {n} numbers",
            "r" not in err and isinstance(r, list) and len(r) == n and all(map(_is_num, r)),
        )
    )
    o = rec.get("o")
    checks.append(
        (
            f"get_observations(initial) is a list of {n} dicts",
            "o" not in err
            and isinstance(o, list)
            and len(o) == n
            and all(s.startswith("{") for s in o),
        )
    )
    names = probe.get("names")
    checks.append(("get_player_name returns str", bool(names) and all(x == "str" for x in names)))
    passed = sum(ok for _, ok in checks)
    failed = [name for name, ok in checks if not ok]
    failure = Failure("static", f"failed: {failed[0]}", []) if failed else None
    return TierResult(passed / len(checks), failure, {"checks": len(checks), "failed": failed})


def api_complete(loaded: dict | None, plan: GoldenPlan) -> bool:
    if not loaded or not loaded.get("ok"):
        return False
    funcs = loaded.get("probe", {}).get("funcs", {})
    return all(funcs.get(f, "missing") != "missing" for f in plan.game.required_functions)


# --------------------------------------------------------------------------------------
# dynamics
# --------------------------------------------------------------------------------------

_FLAG_NAMES = {
    "json": "the state is not JSON-like",
    "det": "a getter answers differently on a deep copy of the same state",
    "apply": "apply_action raised on an action the candidate listed as legal",
    "pure": "apply_action mutated its input state",
    "adet": "apply_action is not deterministic",
}


def step_problems(rec: dict, flags: dict, n: int, game_has_chance: bool) -> list[str]:
    """Every dynamics rule one recorded step breaks (empty if the step is clean)."""
    problems = [f"{k} raised {v}" for k, v in rec.get("err", {}).items()]
    if problems:
        return problems
    p, legal_raw, c, r, o = rec["p"], rec["l"], rec["c"], rec["r"], rec["o"]
    legal = _str_list(legal_raw)
    if not (_is_int(p) and (p in (CHANCE, TERMINAL) or 0 <= p < n)):
        problems.append(f"current player {p!r} is not a player id")
    if legal is None:
        problems.append("legal actions are not a list of str")
    elif len(set(legal)) != len(legal):
        problems.append("duplicate legal actions")
    elif p == TERMINAL and legal:
        problems.append("legal actions at a terminal state")
    elif p != TERMINAL and not legal:
        problems.append("no legal action at a non-terminal state")
    outcomes = _outcomes(c)
    if outcomes is None:
        problems.append("chance outcomes are not a list of (action, probability)")
    elif p == CHANCE:
        if not outcomes or not all(q > 0 for q in outcomes.values()):
            problems.append("chance probabilities must be > 0")
        elif not math.isclose(sum(outcomes.values()), 1.0, abs_tol=1e-6):
            problems.append(f"chance probabilities sum to {sum(outcomes.values())}")
        if legal is not None and set(outcomes) != set(legal):
            problems.append("chance outcomes differ from the legal actions")
    elif outcomes:
        problems.append("chance outcomes at a non-chance state")
    if not (isinstance(r, list) and len(r) == n and all(_is_num(x) for x in r)):
        problems.append(f"rewards {r!r} are not {n} numbers")
    if not (isinstance(o, list) and len(o) == n and all(s.startswith("{") for s in o)):
        problems.append(f"observations are not {n} JSON-like dicts")
    for key, message in _FLAG_NAMES.items():
        if key in flags and not flags[key]:
            problems.append(message + (f" ({flags['apply_error']})" if key == "apply" else ""))
    return problems


def score_dynamics(rollouts: list[dict | None], plan: GoldenPlan) -> TierResult:
    """Fraction of clean steps per candidate-driven rollout; a rollout that crashes counts
    its missing steps (up to the golden's mean length) as failed, one that does not end
    within the length bound loses half."""
    game = plan.game
    n = game.num_players
    failure = None
    scores = []
    counts = {"rollouts": len(rollouts), "clean_steps": 0, "steps": 0, "unfinished": 0}
    expected = min(plan.mean_length + 1, plan.rollout_steps)
    for i, ro in enumerate(rollouts):
        if not isinstance(ro, dict) or not isinstance(ro.get("steps"), list):
            scores.append(0.0)
            failure = _fail(failure, "dynamics", f"rollout {i}: no answer (timeout or crash)")
            continue
        actions: list[str] = []
        clean = 0
        steps = ro["steps"]
        for t, step in enumerate(steps):
            problems = step_problems(step.get("rec", {}), step.get("f", {}), n, game.chance)
            if problems:
                failure = _fail(
                    failure, "dynamics", f"rollout {i} step {t}: {problems[0]}", actions
                )
            else:
                clean += 1
            if step.get("a") is not None:
                actions.append(step["a"])
        end = ro.get("end")
        total = len(steps)
        if end in ("error", "stuck"):
            total = max(total, expected)
            failure = _fail(failure, "dynamics", f"rollout {i}: {ro.get('error')}", actions)
        score = clean / max(total, 1)
        if end == "bound" and plan.bound_checked:
            score *= 0.5
            counts["unfinished"] += 1
            failure = _fail(
                failure,
                "dynamics",
                f"rollout {i}: no terminal state within max_game_length="
                f"{game.max_game_length} actions",
                actions,
            )
        counts["clean_steps"] += clean
        counts["steps"] += len(steps)
        scores.append(score)
    return TierResult(sum(scores) / max(len(scores), 1), failure, counts)


# --------------------------------------------------------------------------------------
# semantics (differential, against the golden)
# --------------------------------------------------------------------------------------


def compare_states(cand: dict, gold: dict) -> tuple[float, str | None]:
    """Agreement of one candidate state record with the golden's, in [0, 1], and what
    differed first."""
    err = cand.get("err", {})
    parts: list[tuple[str, float]] = []
    cp, gp = cand.get("p"), gold["p"]
    parts.append(("current player", float("p" not in err and cp == gp)))
    parts.append(("terminal", float("p" not in err and (cp == TERMINAL) == (gp == TERMINAL))))
    cl, gl = _str_list(cand.get("l")), set(gold["l"])
    if "l" in err or cl is None:
        parts.append(("legal actions", 0.0))
    else:
        union = set(cl) | gl
        parts.append(("legal actions", len(set(cl) & gl) / len(union) if union else 1.0))
    parts.append(("rewards", float("r" not in err and _rewards_equal(cand.get("r"), gold["r"]))))
    if gp == CHANCE or cp == CHANCE:
        co, go = _outcomes(cand.get("c")), _outcomes(gold["c"])
        same = (
            co is not None
            and co.keys() == go.keys()
            and all(math.isclose(co[a], go[a], abs_tol=1e-6) for a in go)
        )
        parts.append(("chance outcomes", float("c" not in err and same)))
    co_obs, go_obs = cand.get("o"), gold["o"]
    if "o" in err or not isinstance(co_obs, list) or len(co_obs) != len(go_obs):
        parts.append(("observations", 0.0))
    else:
        parts.append(("observations", sum(a == b for a, b in zip(co_obs, go_obs)) / len(go_obs)))
    score = sum(v for _, v in parts) / len(parts)
    first = next((name for name, v in parts if v < 1.0), None)
    if first is not None:
        detail = {
            "current player": lambda: f"candidate {cp!r}, golden {gp!r}",
            "terminal": lambda: f"candidate player {cp!r}, golden {gp!r}",
            "legal actions": lambda: (
                f"missing {sorted(gl - set(cl or []))[:5]}, extra {sorted(set(cl or []) - gl)[:5]}"
                if cl is not None
                else f"candidate {err.get('l', cand.get('l'))!r}"
            ),
            "rewards": lambda: f"candidate {err.get('r', cand.get('r'))!r}, golden {gold['r']!r}",
            "chance outcomes": lambda: (
                f"candidate {err.get('c', cand.get('c'))!r}, golden {gold['c']!r}"
            ),
            "observations": lambda: (
                "differ from the golden's" + (f" ({err['o']})" if "o" in err else "")
            ),
        }[first]()
        first = f"{first}: {detail}"
    return score, first


def score_semantics(
    traces: list[dict | None],
    rollouts: list[dict | None],
    plan: GoldenPlan,
    golden: types.ModuleType,
    candidate_share: float,
) -> TierResult:
    failure = None
    a_scores = []
    for i, (actions, gtrace, ctrace) in enumerate(
        zip(plan.semantic_actions, plan.semantic_traces, traces)
    ):
        gstates = gtrace["states"]
        cstates = ctrace.get("states", []) if isinstance(ctrace, dict) else []
        total = 0.0
        for t, gold in enumerate(gstates):
            if t >= len(cstates):
                why = (ctrace or {}).get("error") or "no answer (timeout or crash)"
                failure = _fail(
                    failure, "semantics", f"golden game {i} step {t}: {why}", actions[:t]
                )
                break
            s, diff = compare_states(cstates[t], gold)
            total += s
            if diff:
                failure = _fail(
                    failure, "semantics", f"golden game {i} step {t}: {diff}", actions[:t]
                )
        a_scores.append(total / len(gstates))
    b_scores = [_candidate_legal_precision(ro, golden, plan) for ro in rollouts]
    b_scores_only = [s for s, _ in b_scores]
    for s, fail in b_scores:
        if fail and failure is None:
            failure = fail
    a = sum(a_scores) / max(len(a_scores), 1)
    b = sum(b_scores_only) / max(len(b_scores_only), 1)
    score = (1 - candidate_share) * a + candidate_share * b if b_scores else a
    return TierResult(score, failure, {"golden_driven": a, "candidate_driven": b})


def _candidate_legal_precision(ro, golden, plan) -> tuple[float, Failure | None]:
    """Along a candidate-driven game: the share of the candidate's legal actions that the
    golden also allows, step by step, until the candidate plays something the golden
    refuses (the remaining steps count 0)."""
    if not isinstance(ro, dict) or not ro.get("steps"):
        return 0.0, None
    steps = ro["steps"]
    state = golden.get_initial_state()
    actions: list[str] = []
    total = 0.0
    first = None
    for t, step in enumerate(steps):
        cl = _str_list(step.get("rec", {}).get("l"))
        if cl is None:
            break  # dynamics already charges a malformed answer
        gl = set(golden.get_legal_actions(state))
        total += (sum(a in gl for a in cl) / len(cl)) if cl else float(not gl)
        bad = [a for a in cl if a not in gl]
        if first is None and bad:
            first = Failure(
                "semantics",
                f"candidate game step {t}: the candidate allows "
                f"{bad[:5]}, which the golden does not",
                list(actions),
            )
        elif first is None and not cl and gl:
            first = Failure(
                "semantics",
                f"candidate game step {t}: the candidate ends the game where the golden does not",
                list(actions),
            )
        action = step.get("a")
        if action is None or action not in gl:
            break
        state = golden.apply_action(state, action)
        actions.append(action)
    return total / len(steps), first


# --------------------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------------------


class RecordedModule:
    """A GameCWM answering from a recorded trace (states are step indices), so the scripted
    scenarios are judged by the dataset's own `check_scenario` on the candidate's answers."""

    def __init__(self, trace: dict | None):
        self.trace = trace if isinstance(trace, dict) else {"states": [], "error": "no answer"}
        self.states = self.trace.get("states") or []

    def _rec(self, t: int, key: str):
        if t >= len(self.states):
            raise ValueError(self.trace.get("error") or "no answer (timeout or crash)")
        rec = self.states[t]
        if key in rec.get("err", {}):
            raise ValueError(f"candidate raised {rec['err'][key]}")
        return rec[key]

    def get_initial_state(self):
        self._rec(0, "p")
        return 0

    def apply_action(self, t, action):
        if t + 1 >= len(self.states):
            raise ValueError(self.trace.get("error") or "no answer")
        return t + 1

    def get_current_player(self, t):
        return self._rec(t, "p")

    def get_legal_actions(self, t):
        legal = self._rec(t, "l")
        return legal if isinstance(legal, list) else []

    def get_chance_outcomes(self, t):
        return [tuple(x) for x in (self._rec(t, "c") or []) if isinstance(x, list) and len(x) == 2]

    def get_rewards(self, t):
        return self._rec(t, "r")

    def get_observations(self, t):
        import json

        out = []
        for s in self._rec(t, "o") or []:
            try:
                out.append(json.loads(s))
            except ValueError:
                out.append(s)
        return out


def score_scenarios(traces: list[dict | None], plan: GoldenPlan) -> TierResult:
    failure = None
    passed = 0
    for scenario, trace in zip(plan.scenarios, traces):
        try:
            problem = check_scenario(RecordedModule(trace), scenario)
        except Exception as e:  # noqa: BLE001 - malformed candidate answers
            problem = f"{scenario['name']}: {type(e).__name__}: {e}"
        if problem is None:
            passed += 1
        else:
            failure = _fail(failure, "scenarios", problem, scenario["actions"])
    return TierResult(
        passed / len(plan.scenarios), failure, {"passed": passed, "total": len(plan.scenarios)}
    )


# --------------------------------------------------------------------------------------
# information (imperfect games)
# --------------------------------------------------------------------------------------


def score_information(
    resamples: list[dict | None],
    sem_traces: list[dict | None],
    leak_traces: list[dict | None],
    plan: GoldenPlan,
    golden: types.ModuleType,
    leak_share: float,
    leak_pairs: int,
) -> TierResult:
    failure = None
    scores = []
    for q, (query, history, res) in enumerate(
        zip(plan.resample_queries, plan.golden_histories, resamples)
    ):
        actions, player = query["actions"], query["player"]
        samples = res.get("samples") if isinstance(res, dict) else None
        if not isinstance(samples, list) or not samples:
            scores.append(0.0)
            why = res.get("problem") if isinstance(res, dict) else None
            failure = _fail(failure, "information", f"resample {q}: {why or 'no answer'}", actions)
            continue
        total = 0.0
        for sample in samples:
            ok, why = _check_resample(sample, actions, player, history, golden)
            total += ok
            if ok < 1.0:
                failure = _fail(
                    failure,
                    "information",
                    f"resample_history for player {player} after {len(actions)} actions: {why}",
                    actions,
                )
        scores.append(total / len(samples))
    resample_score = sum(scores) / max(len(scores), 1)
    leak, leak_failure, leak_details = _leak_score(sem_traces, leak_traces, plan, leak_pairs)
    failure = failure or leak_failure
    score = (
        resample_score if leak is None else (1 - leak_share) * resample_score + leak_share * leak
    )
    return TierResult(score, failure, {"resample": resample_score, "leak": leak, **leak_details})


def _check_resample(sample, actions, player, history, golden) -> tuple[float, str | None]:
    """Half for replaying consistently under the candidate's own rules, half for being a
    consistent history under the golden's."""
    if not isinstance(sample, dict):
        return 0.0, "no answer"
    self_ok = bool(sample.get("self_ok"))
    why = sample.get("problem")
    sampled = _str_list(sample.get("sampled"))
    golden_ok = False
    if sampled is not None and len(sampled) == len(actions):
        try:
            golden_ok = observation_history(golden, sampled, player) == history
            if not golden_ok:
                why = why or "the sample gives the player other observations under the golden"
        except Exception as e:  # noqa: BLE001 - illegal for the golden
            why = why or f"the sample is not legal for the golden: {e}"
    elif why is None:
        why = "resample_history returned no usable history"
    return 0.5 * self_ok + 0.5 * golden_ok, why


def _leak_score(sem_traces, leak_traces, plan: GoldenPlan, max_pairs: int):
    """Do the candidate's observations separate exactly the histories the golden's do?

    States are taken from the golden-driven games and from golden resamples of the query
    histories (same view, other hidden facts). For each player: pairs the golden shows
    alike must look alike to the candidate (else it leaks), pairs the golden shows apart
    must differ (else it hides what the player may know)."""
    states: dict[tuple, tuple[list[str], list[str] | None]] = {}
    sources = list(zip(plan.semantic_actions, plan.semantic_traces, sem_traces))
    sources += list(zip(plan.leak_actions, plan.leak_traces, leak_traces))
    for actions, gtrace, ctrace in sources:
        cstates = ctrace.get("states", []) if isinstance(ctrace, dict) else []
        for t, gold in enumerate(gtrace["states"]):
            key = tuple(actions[:t])
            if key in states:
                continue
            cobs = None
            if t < len(cstates) and isinstance(cstates[t].get("o"), list):
                cobs = cstates[t]["o"]
            states[key] = (gold["o"], cobs)
    keys = list(states)
    rng = rng_for(plan.seed, plan.game.name, "leak")
    counts = {True: [0, 0], False: [0, 0]}  # golden says alike? -> [agreeing, total]
    failure = None
    for player in range(plan.game.num_players):
        groups: dict[str, list[tuple]] = {}
        for k in keys:
            groups.setdefault(states[k][0][player], []).append(k)
        same_pairs = [(g[0], other) for g in groups.values() for other in g[1:]]
        if len(same_pairs) > max_pairs:
            same_pairs = rng.sample(same_pairs, max_pairs)
        diff_pairs = []
        if len(groups) > 1:
            for _ in range(max_pairs):
                a, b = rng.sample(keys, 2)
                if states[a][0][player] != states[b][0][player]:
                    diff_pairs.append((a, b))
        for alike, pairs in ((True, same_pairs), (False, diff_pairs)):
            for a, b in pairs:
                ca, cb = states[a][1], states[b][1]
                ok = (
                    ca is not None
                    and cb is not None
                    and len(ca) > player
                    and len(cb) > player
                    and (ca[player] == cb[player]) == alike
                )
                counts[alike][0] += ok
                counts[alike][1] += 1
                if not ok:
                    what = (
                        "cannot tell these histories apart under the golden, but its "
                        "candidate observations differ"
                        if alike
                        else "tells these histories apart under the golden, but not under the "
                        "candidate"
                    )
                    failure = _fail(
                        failure,
                        "information",
                        f"observation {'leak' if alike else 'hides'}: player {player} "
                        f"{what} (other history: {list(b)})",
                        list(a),
                    )
    (same_ok, same_n), (diff_ok, diff_n) = counts[True], counts[False]
    parts = [
        x
        for x in (same_ok / same_n if same_n else None, diff_ok / diff_n if diff_n else None)
        if x is not None
    ]
    details = {"same_view_pairs": same_n, "different_view_pairs": diff_n}
    if not parts:
        return None, None, details
    return sum(parts) / len(parts), failure, details
