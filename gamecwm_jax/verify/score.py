"""Tier scores from the candidate's recorded answers (trusted side, plain data only).

Every tier is in [0, 1] with partial credit: the fraction of checks, steps or scenarios that
agree. Each returns a `TierResult` with the first failure and the action history that
reproduces it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
from collections.abc import Mapping
from typing import Any

from gamecwm_jax.games.play import check_scenario, observation_history
from gamecwm_jax.games.registry import CHANCE, TERMINAL
from gamecwm_jax.verify import _harness, ranges
from gamecwm_jax.verify.plan import GoldenPlan, _golden_rejects, rng_for


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
        k = _harness.ARITY[f]
        checks.append((f"{f} defined, taking {k} argument(s)", funcs.get(f, "missing") == "ok"))
    if probe.get("init_error"):
        checks.append((f"get_initial_state() works ({probe['init_error']})", False))
    checks.append(("get_initial_state() returns a dict", probe.get("init_type") == "dict"))
    checks.append(("the initial state is JSON-like", bool(probe.get("init_json"))))
    rec = probe.get("rec") or {"err": {"all": "not called"}}
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
    if game.chance:  # a chance-free game never asks (its definition is checked above)
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
    "adet": "apply_action is not deterministic",
    "pure": "apply_action mutated its input state",
}


def step_checks(
    rec: dict, flags: dict, n: int, game_has_chance: bool, purity_in_step: bool = True
) -> list[tuple[str, str | None]]:
    """Every dynamics check of one recorded step: (check, problem or None if it holds).

    A getter that raises fails its own check only. Chance outcomes are checked only in
    games with chance (a chance-free game never asks for them)."""
    err = rec.get("err", {})
    p, legal_raw, c, r, o = (rec.get(k) for k in "plcro")
    legal = _str_list(legal_raw)
    out: list[tuple[str, str | None]] = []
    if "p" in err:
        out.append(("player", f"get_current_player raised {err['p']}"))
    elif not (_is_int(p) and (p in (CHANCE, TERMINAL) or 0 <= p < n)):
        out.append(("player", f"current player {p!r} is not a player id"))
    else:
        out.append(("player", None))
    if "l" in err:
        problem = f"get_legal_actions raised {err['l']}"
    elif legal is None:
        problem = "legal actions are not a list of str"
    elif len(set(legal)) != len(legal):
        problem = "duplicate legal actions"
    elif p == TERMINAL and legal:
        problem = "legal actions at a terminal state"
    elif p != TERMINAL and not legal:
        problem = "no legal action at a non-terminal state"
    else:
        problem = None
    out.append(("legal", problem))
    if game_has_chance:
        outcomes = None if "c" in err else _outcomes(c)
        problem = None
        if "c" in err:
            problem = f"get_chance_outcomes raised {err['c']}"
        elif outcomes is None:
            problem = "chance outcomes are not a list of (action, probability)"
        elif p == CHANCE:
            if not outcomes or not all(q > 0 for q in outcomes.values()):
                problem = "chance probabilities must be > 0"
            elif not math.isclose(sum(outcomes.values()), 1.0, abs_tol=1e-6):
                problem = f"chance probabilities sum to {sum(outcomes.values())}"
            elif legal is not None and set(outcomes) != set(legal):
                problem = "chance outcomes differ from the legal actions"
        elif outcomes:
            problem = "chance outcomes at a non-chance state"
        out.append(("chance", problem))
    if "r" in err:
        out.append(("rewards", f"get_rewards raised {err['r']}"))
    elif not (isinstance(r, list) and len(r) == n and all(_is_num(x) for x in r)):
        out.append(("rewards", f"rewards {r!r} are not {n} numbers"))
    else:
        out.append(("rewards", None))
    if "o" in err:
        out.append(("observations", f"get_observations raised {err['o']}"))
    elif not (isinstance(o, list) and len(o) == n and all(s.startswith("{") for s in o)):
        out.append(("observations", f"observations are not {n} JSON-like dicts"))
    else:
        out.append(("observations", None))
    for key, message in _FLAG_NAMES.items():
        if key not in flags or (key == "pure" and not purity_in_step):
            continue
        if flags[key]:
            out.append((key, None))
        else:
            out.append((key, message + (f" ({flags['apply_error']})" if key == "apply" else "")))
    return out


def score_dynamics(
    rollouts: list[dict | None],
    plan: GoldenPlan,
    all_or_nothing: bool = False,
    purity_share: float = 0.5,
) -> TierResult:
    """Candidate-driven rollouts. Each step earns the fraction of its checks that hold
    (`all_or_nothing`: 1 only if all hold); a rollout that crashes counts its missing steps
    (up to the golden's mean length) as 0, one that does not end within the length bound
    loses half. `purity_share` of the tier is the fraction of apply_action calls that left
    their input unchanged (with 0, purity is one more per-step check)."""
    game = plan.game
    n = game.num_players
    failure = None
    scores = []
    counts = {"rollouts": len(rollouts), "clean_steps": 0, "steps": 0, "unfinished": 0}
    pure = [0, 0]  # pure applies, applies
    expected = min(plan.mean_length + 1, plan.rollout_steps)
    in_step = purity_share <= 0
    for i, ro in enumerate(rollouts):
        if not isinstance(ro, dict) or not isinstance(ro.get("steps"), list):
            scores.append(0.0)
            failure = _fail(failure, "dynamics", f"rollout {i}: no answer (timeout or crash)")
            continue
        actions: list[str] = []
        credit = 0.0
        steps = ro["steps"]
        for t, step in enumerate(steps):
            flags = step.get("f", {})
            if "pure" in flags:
                pure[0] += bool(flags["pure"])
                pure[1] += 1
                if not flags["pure"] and not in_step:
                    failure = _fail(
                        failure, "dynamics", f"rollout {i} step {t}: {_FLAG_NAMES['pure']}", actions
                    )
            checks = step_checks(step.get("rec", {}), flags, n, game.chance, in_step)
            problems = [p for _, p in checks if p is not None]
            if problems:
                failure = _fail(
                    failure, "dynamics", f"rollout {i} step {t}: {problems[0]}", actions
                )
            else:
                counts["clean_steps"] += 1
            if all_or_nothing:
                credit += float(not problems)
            else:
                credit += 1.0 - len(problems) / len(checks)
            if step.get("a") is not None:
                actions.append(step["a"])
        end = ro.get("end")
        total = len(steps)
        if end in ("error", "stuck"):
            total = max(total, expected)
            failure = _fail(failure, "dynamics", f"rollout {i}: {ro.get('error')}", actions)
        score = credit / max(total, 1)
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
        counts["steps"] += len(steps)
        scores.append(score)
    steps_score = sum(scores) / max(len(scores), 1)
    purity = pure[0] / pure[1] if pure[1] else 0.0
    counts["pure_applies"], counts["applies"] = pure
    counts["steps_score"], counts["purity"] = steps_score, purity
    score = steps_score if in_step else (1 - purity_share) * steps_score + purity_share * purity
    return TierResult(score, failure, counts)


# --------------------------------------------------------------------------------------
# semantics (differential, against the golden)
# --------------------------------------------------------------------------------------


def reach(actions: list[str], ctrace: dict | None, length: int) -> int:
    """How many of the golden trace's `length` states the candidate reached while playing
    the golden's game: it stops after the first state where it does not offer the golden's
    next action (exact string) or where apply_action raised on it, or at a crash."""
    cstates = ctrace.get("states", []) if isinstance(ctrace, dict) else []
    for t in range(min(length, len(cstates))):
        if t >= len(actions):
            return t + 1
        legal = _str_list(cstates[t].get("l")) if isinstance(cstates[t], dict) else None
        if legal is None or actions[t] not in legal:
            return t + 1
    return min(length, len(cstates))


def _chance_agrees(cand: dict, gold: dict) -> bool:
    if gold["p"] != CHANCE and cand.get("p") != CHANCE:
        return True
    co, go = _outcomes(cand.get("c")), _outcomes(gold["c"])
    return (
        "c" not in cand.get("err", {})
        and co is not None
        and co.keys() == go.keys()
        and all(math.isclose(co[a], go[a], abs_tol=1e-6) for a in go)
    )


def _obs_agrees(cand: dict, gold: dict, player: int) -> bool:
    o = cand.get("o")
    return (
        "o" not in cand.get("err", {})
        and isinstance(o, list)
        and len(o) == len(gold["o"])
        and o[player] == gold["o"][player]
    )


def _aspects(n: int, has_chance: bool) -> dict[str, Any]:
    """What a golden-driven step compares: name -> (candidate record, golden record,
    rejection probes) -> agrees. Observations are one aspect per player (weighted 1/n)."""
    out: dict[str, Any] = {
        "current player": lambda c, g, pr: "p" not in c.get("err", {}) and c.get("p") == g["p"],
        "legal actions": lambda c, g, pr: (
            "l" not in c.get("err", {})
            and _str_list(c.get("l")) is not None
            and len(c["l"]) == len(set(c["l"]))
            and set(c["l"]) == set(g["l"])
        ),
        "rewards": lambda c, g, pr: (
            "r" not in c.get("err", {}) and _rewards_equal(c.get("r"), g["r"])
        ),
        "rejects illegal actions": lambda c, g, pr: (
            not pr
            or (isinstance(c.get("rej"), list) and len(c["rej"]) == len(pr) and all(c["rej"]))
        ),
    }
    if has_chance:
        out["chance outcomes"] = lambda c, g, pr: _chance_agrees(c, g)
    for player in range(n):
        out[f"observation of player {player}"] = lambda c, g, pr, player=player: _obs_agrees(
            c, g, player
        )
    return out


def _aspect_detail(name: str, cand: dict, gold: dict, probes: list[str] | None) -> str:
    err = cand.get("err", {})
    if name == "current player":
        return f"candidate {err.get('p', cand.get('p'))!r}, golden {gold['p']!r}"
    if name == "legal actions":
        cl = _str_list(cand.get("l"))
        if cl is None:
            return f"candidate {err.get('l', cand.get('l'))!r}"
        gl = set(gold["l"])
        return f"missing {sorted(gl - set(cl))[:5]}, extra {sorted(set(cl) - gl)[:5]}"
    if name == "rewards":
        return f"candidate {err.get('r', cand.get('r'))!r}, golden {gold['r']!r}"
    if name == "chance outcomes":
        return f"candidate {err.get('c', cand.get('c'))!r}, golden {gold['c']!r}"
    if name == "rejects illegal actions":
        rej = cand.get("rej") or []
        accepted = [a for a, r in zip(probes or [], rej) if not r]
        return f"apply_action accepted {accepted[:3]}, which the golden rejects"
    return "differs from the golden's" + (f" ({err['o']})" if "o" in err else "")


def score_golden_trace(
    actions: list[str],
    gtrace: dict,
    ctrace: dict | None,
    probes: list[list[str]] | None,
    n: int,
    has_chance: bool,
    by_group: dict[str, float] | None = None,
    aspect_weights: Mapping[str, float] | None = None,
) -> tuple[float, str | None, int]:
    """Credit for one golden-driven trace in [0, 1], the first disagreement and its step.

    Every aspect of a state (current player, legal actions, rewards, chance outcomes, each
    player's observation, rejecting the golden's illegal actions) is credited step by step
    up to its first disagreement, only over the states the candidate reached (`reach`: a
    crash or an action it does not offer or accept costs the rest of this trace); one more
    aspect, the outcome (weight `aspect_weights["outcome"]`), holds if the candidate reaches the last
    state and agrees on its player and rewards (so a wrong end or wrong final rewards cost
    more than one step).
    The credit is the mean over aspects of (steps credited / states in the trace), so it
    grows with how much of the game the candidate gets right."""
    gstates = gtrace["states"]
    length = len(gstates)
    cstates = ctrace.get("states", []) if isinstance(ctrace, dict) else []
    reached = reach(actions, ctrace, length)
    credit, total, first = _credit_aspects(
        _aspects(n, has_chance), cstates, gstates, probes, reached, length,
        by_group=by_group, group_weights=aspect_weights,
    )  # fmt: skip
    if reached < length:
        t = reached - 1  # the last state reached (-1: not even the initial one)
        why = (ctrace or {}).get("error") or "no answer (timeout or crash)"
        if t >= 0 and actions[t] not in (_str_list(cstates[t].get("l")) or []):
            why = f"the candidate does not offer the golden's action {actions[t]!r}"
        if first is None or first[0] > t:
            first = (max(t, 0), why)
    if first is None:
        return credit / total, None, length
    return credit / total, first[1], first[0]


def score_semantics(
    traces: list[dict | None],
    rollouts: list[dict | None],
    plan: GoldenPlan,
    golden: types.ModuleType,
    candidate_share: float,
    resync_budget: int = 0,
    aspect_weights: Mapping[str, float] | None = None,
    alike_first: bool = False,
    range_share: float = 0.0,
) -> TierResult:
    """Golden-driven traces scored by `score_golden_trace`, and candidate-driven games by
    `score_candidate_trace` (`candidate_share` of the tier, `range_share` of each game
    its states checked against the range of the golden's answers), each aspect group
    weighing `aspect_weights[group]` (1 where absent; the outcome is the group
    "outcome"). `details` holds each side's mean credit per aspect group, before the
    weights (the candidate side's "range" too)."""
    failure = None
    a_scores, a_groups = [], []
    n, has_chance = plan.game.num_players, plan.game.chance
    for i, (actions, gtrace, ctrace) in enumerate(
        zip(plan.semantic_actions, plan.semantic_traces, traces)
    ):
        a_groups.append({})
        credit, why, t = score_golden_trace(
            actions,
            gtrace,
            ctrace,
            plan.illegal_for(i),
            n,
            has_chance,
            by_group=a_groups[-1],
            aspect_weights=aspect_weights,
        )
        a_scores.append(credit)
        if why is not None:
            failure = _fail(failure, "semantics", f"golden game {i} step {t}: {why}", actions[:t])
    b_groups: list[dict[str, float]] = [{} for _ in rollouts]
    b_scores = [
        score_candidate_trace(
            ro,
            golden,
            plan,
            resync_budget,
            by_group=g,
            aspect_weights=aspect_weights,
            alike_first=alike_first,
            range_share=range_share,
        )
        for ro, g in zip(rollouts, b_groups)
    ]
    b_scores_only = [s for s, _ in b_scores]
    for s, fail in b_scores:
        if fail and failure is None:
            failure = fail
    a = sum(a_scores) / max(len(a_scores), 1)
    b = sum(b_scores_only) / max(len(b_scores_only), 1)
    score = (1 - candidate_share) * a + candidate_share * b if b_scores else a
    groups = [aspect_group(name) for name in _aspects(n, has_chance)] + ["outcome"]

    def mean_groups(per_trace: list[dict[str, float]], names: list[str]) -> dict[str, float]:
        # each aspect group's credit averaged over the traces (a trace not scored: 0), so
        # another weighting of the aspects can be computed from a report
        m = max(len(per_trace), 1)
        return {g: sum(d.get(g, 0.0) for d in per_trace) / m for g in dict.fromkeys(names)}

    return TierResult(
        score,
        failure,
        {
            "golden_driven": a,
            "candidate_driven": b,
            "golden_aspects": mean_groups(a_groups, groups),
            "candidate_aspects": mean_groups(b_groups, [*groups, "range"]),
        },
    )


def _golden_along(
    game: str, golden: types.ModuleType, actions: tuple[str, ...], n: int, probes: tuple = ()
) -> list[dict]:
    """The golden's record of each state along `actions`, as far as it accepts them (one
    more state per accepted action), with `grej`: for each string of `probes[t]`, whether
    the golden rejects it at state t. Cached, since equal candidates play equal games."""
    key = (game, n, actions, probes)
    hit = _ALONG_CACHE.get(key)
    if hit is not None:
        return hit
    state = golden.get_initial_state()
    records = []
    for t in range(len(actions) + 1):
        rec = _harness.observe(golden, state, n)
        if t < len(probes) and probes[t]:
            rec["grej"] = [_golden_rejects(golden, state, a) for a in probes[t]]
        records.append(rec)
        if t == len(actions) or actions[t] not in (rec["l"] or []):
            break
        state = golden.apply_action(state, actions[t])
    if len(_ALONG_CACHE) >= 256:
        _ALONG_CACHE.clear()
    _ALONG_CACHE[key] = records
    return records


_ALONG_CACHE: dict[tuple, list[dict]] = {}


@functools.lru_cache(maxsize=256)  # small: the texts are the candidate's, kept alive here
def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _shows(cand_view: Any, gold_view: str) -> bool:
    """Whether a candidate's view (canonical JSON) shows what the golden's shows: the same
    text, or an object with every key of the golden's at the same value. A view that
    shows more (a leak) still tells the golden's position, so a leak does not stop the
    golden from following the candidate: it is charged by the observation aspect and the
    information tier, and the faults behind it stay visible (a random move inside a
    transition, found again by `_find_move`, is charged instead of going unseen)."""
    if cand_view == gold_view:
        return True
    # a superset's canonical text (sorted keys) is longer: most moves stop here
    if not isinstance(cand_view, str) or len(cand_view) <= len(gold_view):
        return False
    if not (cand_view.startswith("{") and gold_view.startswith("{")):
        return False
    c, g = _json_object(cand_view), _json_object(gold_view)
    return c is not None and g is not None and all(k in c and c[k] == v for k, v in g.items())


def _views_show(cand_views: Any, gold_views: list[str]) -> bool:
    return (
        isinstance(cand_views, list)
        and len(cand_views) == len(gold_views)
        and all(_shows(c, g) for c, g in zip(cand_views, gold_views))
    )


def _same_position(cand: dict, gold: dict) -> bool:
    """Whether a candidate's record shows the golden's position: the same player to move
    and every player's observation showing what the golden's shows (`_shows`; the rules
    around it, legal actions, rewards, chance, are aspects of their own)."""
    return (
        not {"p", "o"} & set(cand.get("err", {}))
        and cand.get("p") == gold["p"]
        and _views_show(cand.get("o"), gold["o"])
    )


def _find_move(
    golden: types.ModuleType,
    state: Any,
    legal: Any,
    cand: dict,
    n: int,
    budget: list[int],
    alike: str | None = None,
):
    """A golden move among `legal` (the moves at `state`, already observed) to the position
    the candidate shows, as (state, record), or None; each move tried costs one unit of
    `budget`. Moves spelled like `alike` (up to case and punctuation) are tried first."""
    moves = list(legal) if isinstance(legal, list) else []
    if alike is not None:
        key = _harness.spelling_key(alike)
        moves.sort(key=lambda m: _harness.spelling_key(m) != key)  # stable: the rest keep order
    for move in moves:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        try:
            nxt = golden.apply_action(state, move)
            # the observations first: most moves differ there, and they are cheap
            obs = [_harness.canonical(o) for o in golden.get_observations(nxt)]
        except Exception:  # noqa: BLE001 - the golden's own refusal
            continue
        if _views_show(cand.get("o"), obs):
            rec = _harness.observe(golden, nxt, n)
            if _same_position(cand, rec):
                return nxt, rec
    return None


def _golden_follow(
    game: str,
    golden: types.ModuleType,
    actions: tuple[str, ...],
    n: int,
    probes: tuple,
    crecs: list[dict],
    budget: int,
    alike_first: bool = False,
) -> tuple[list[dict], set[int]]:
    """The golden's records along a candidate's game, like `_golden_along`, and the steps
    where the golden was put back in step with the candidate.

    Two faults end the golden's game early although the rules after them are the
    golden's: a move spelled another way, which the golden refuses, and a transition that
    makes one move more than asked (a roll or a shuffle inside apply_action, a random
    extra move), which leaves the candidate in a position the golden reaches with one
    move more. Where that happens the golden looks for the move (instead of the refused
    one, or after the accepted one) that shows the candidate's position, and follows
    the candidate from there: the faults after it stay observable instead of hiding
    behind it, and the step itself earns nothing (`_credit_aspects`). At most `budget`
    golden moves are tried per game; the first step no move explains ends the search."""
    records = _golden_along(game, golden, actions, n, probes)
    both = min(len(records), len(crecs))
    first = next((t for t in range(1, both) if not _same_position(crecs[t], records[t])), both)
    if budget <= 0 or (first == both and len(records) >= min(len(crecs), len(actions) + 1)):
        return records, set()
    # in step up to state first - 1: its records stand, the golden's state is replayed
    state = golden.get_initial_state()
    for action in actions[: first - 1]:
        state = golden.apply_action(state, action)
    out: list[dict] = records[: first - 1]
    rec = records[first - 1]
    left = [budget]
    charged: set[int] = set()
    searching = True
    for t in range(first - 1, len(actions) + 1):
        if t < len(probes) and probes[t] and "grej" not in rec:
            rec["grej"] = [_golden_rejects(golden, state, a) for a in probes[t]]
        out.append(rec)
        if t == len(actions):
            break
        nxt = nrec = None
        if actions[t] in (rec["l"] or []):
            nxt = golden.apply_action(state, actions[t])
            nrec = _harness.observe(golden, nxt, n)
        lost = nrec is None or (t + 1 < len(crecs) and not _same_position(crecs[t + 1], nrec))
        if searching and lost and t + 1 < len(crecs):
            # another move instead of the refused one, or one more after the accepted one
            base, legal = (state, rec["l"]) if nxt is None else (nxt, nrec["l"])
            alike = actions[t] if alike_first else None
            found = _find_move(golden, base, legal, crecs[t + 1], n, left, alike)
            if found is None:
                searching = False
            else:
                nxt, nrec = found
                charged.add(t + 1)
        if nxt is None:
            break
        state, rec = nxt, nrec
    return out, charged


def score_candidate_trace(
    ro: dict | None,
    golden: types.ModuleType,
    plan: GoldenPlan,
    resync_budget: int = 0,
    by_group: dict[str, float] | None = None,
    aspect_weights: Mapping[str, float] | None = None,
    alike_first: bool = False,
    range_share: float = 0.0,
) -> tuple[float, Failure | None]:
    """Credit for one candidate-driven game in [0, 1]: the golden follows the candidate's
    moves (each one the candidate offered and accepted) as long as it allows them, and
    each aspect of a state (player, legal actions as exact sets, rewards, chance outcomes,
    each player's observation) is credited step by step up to its first disagreement, as
    in a golden-driven trace, plus the outcome (the candidate's last state agrees on its
    player and rewards). A game the golden leaves (a move it refuses) or one that stops
    where the golden's goes on (a crash, no legal action, an end the golden does not
    see) counts at least the golden's mean length, the missing steps as 0. `range_share`
    of the credit checks every state, followed or not, against the range of the golden's
    answers (`ranges.game_credit`): faults behind one the golden cannot follow still cost."""
    n, has_chance = plan.game.num_players, plan.game.chance
    if not isinstance(ro, dict) or not isinstance(ro.get("steps"), list) or not ro["steps"]:
        return 0.0, None
    steps = ro["steps"]
    actions, probes = _candidate_moves(ro)
    crecs = [st.get("rec") if isinstance(st.get("rec"), dict) else {} for st in steps]
    gstates, resynced = _golden_follow(
        plan.game.name, golden, tuple(actions), n, probes, crecs, resync_budget, alike_first
    )
    # the rejection probes that count: those the golden rejects as well
    cstates, counted = [], []
    for t, step in enumerate(steps):
        rec = step.get("rec") if isinstance(step.get("rec"), dict) else {}
        grej = gstates[t].get("grej") if t < len(gstates) else None
        rej = step.get("rej")
        if grej and isinstance(rej, list) and len(rej) == len(grej):
            rec = dict(rec, rej=[bool(r) for r, g in zip(rej, grej) if g])
            counted.append([a for a, g in zip(probes[t], grej) if g])
        else:
            counted.append([])
        cstates.append(rec)
    reached = min(len(gstates), len(cstates))
    length = len(cstates)
    cut = (
        reached < len(cstates)  # the golden refused a move
        or ro.get("end") in ("error", "stuck")
        or (ro.get("end") == "terminal" and gstates[reached - 1]["p"] != TERMINAL)
    )
    if cut:
        length = max(length, int(min(plan.mean_length + 1, plan.rollout_steps)))
    credit, total, first = _credit_aspects(
        _aspects(n, has_chance),
        cstates,
        gstates,
        counted,
        reached,
        length,
        charged=resynced,
        by_group=by_group,
        group_weights=aspect_weights,
    )
    if resynced and (first is None or first[0] > min(resynced)):
        t = min(resynced)
        first = (
            t,
            f"after {actions[t - 1]!r} the candidate shows a position the golden "
            "reaches by another move, or by one move more",
        )
    if reached < len(cstates):
        why = f"the candidate plays {actions[reached - 1]!r}, which the golden does not allow"
        if first is None or first[0] > reached - 1:
            first = (reached - 1, why)
    failure = None
    if first is not None:
        failure = Failure(
            "semantics", f"candidate game step {first[0]}: {first[1]}", actions[: first[0]]
        )
    score = credit / total
    if range_share > 0 and plan.ranges is not None:
        # a game that runs past the length bound the golden's games end within has not
        # ended where a game may: its rewards there are not the end the range asks for
        ended = ro.get("end") not in ("error", "stuck") and not (
            ro.get("end") == "bound" and plan.bound_checked
        )
        in_range = ranges.game_credit(
            cstates, gstates, actions, _range_length(ro, reached, length, plan), ended, plan.ranges
        )
        if by_group is not None:
            by_group["range"] = in_range
        score = (1 - range_share) * score + range_share * in_range
    return score, failure


def _range_length(ro: dict, reached: int, length: int, plan: GoldenPlan) -> int:
    """The length a candidate game's range checks count its states out of.

    `length` counts the states a cut game is missing where the golden's game goes on. Once
    the golden has lost the position (a move it refuses, a random move inside a
    transition) it cannot say whether the game should go on, and counting those states
    would pay a game for not ending: a missing end test, whose games run on in range,
    raised backgammon's reward after a random move. So a game that reaches a terminal of
    its own where the golden no longer follows counts its own states, but never fewer
    than the shortest golden game (a game over at once is still cut short)."""
    steps = len(ro["steps"])
    if ro.get("end") != "terminal" or reached >= steps or plan.ranges is None:
        return length
    return max(steps, plan.ranges.shortest)


# The name of each aspect's group in `details` and in `RewardConfig.aspect_weights()`
# (every player's observation is in one group, "observations").
ASPECT_GROUPS = {
    "current player": "player",
    "legal actions": "legal",
    "rewards": "rewards",
    "rejects illegal actions": "rejects",
    "chance outcomes": "chance",
}


def aspect_group(name: str) -> str:
    return "observations" if name.startswith("observation") else ASPECT_GROUPS.get(name, name)


def _credit_aspects(
    aspects,
    cstates,
    gstates,
    probes,
    reached,
    length,
    charged=frozenset(),
    by_group: dict[str, float] | None = None,
    group_weights: Mapping[str, float] | None = None,
):
    """(credit, total weight, first disagreement as (step, message) or None): each aspect
    credited over the first `reached` states up to its first disagreement, out of
    `length` states, and the outcome (the last state reached with the same player and
    rewards, when it is the last of `length`). The `charged` states (reached by a wrong
    transition, see `_golden_follow`) earn nothing but do not end an aspect's credit; the
    outcome is scaled by the share of transitions that were not charged. Each group's
    credit (each player's observation 1/n of its group's) is weighed by
    `group_weights[group]`, the outcome's by `group_weights["outcome"]` (1 where absent);
    `by_group` receives each group's credit before that weight."""
    n_obs = sum(name.startswith("observation") for name in aspects) or 1
    within = {name: (1.0 / n_obs if name.startswith("observation") else 1.0) for name in aspects}
    groups: dict[str, float] = {}  # each group's credit before its weight
    first: tuple[int, str] | None = None
    for name, agrees in aspects.items():
        t = 0
        while t < reached:
            pr = probes[t] if probes is not None and t < len(probes) else None
            if not agrees(cstates[t], gstates[t], pr):
                if first is None or t < first[0]:
                    detail = _aspect_detail(name, cstates[t], gstates[t], pr)
                    first = (t, f"{name}: {detail}")
                break
            t += 1
        share = (t - sum(1 for c in charged if c < t)) / length
        group = aspect_group(name)
        groups[group] = groups.get(group, 0.0) + within[name] * share
    last_ok = (
        reached == length
        and reached > 0
        and "p" not in cstates[reached - 1].get("err", {})
        and cstates[reached - 1].get("p") == gstates[reached - 1]["p"]
        and _rewards_equal(cstates[reached - 1].get("r"), gstates[reached - 1]["r"])
    )
    # a game the golden could follow only by moves it was not told earns its outcome in
    # proportion to the moves it was told (all of them charged: nothing)
    groups["outcome"] = float(last_ok) * (1.0 - len(charged) / max(length - 1, 1))
    if by_group is not None:
        by_group.update(groups)
    if first is None and reached == length and not last_ok and reached > 0:
        first = (length - 1, "the game's end differs from the golden's (player or rewards)")
    gw = group_weights or {}
    credit = sum(gw.get(group, 1.0) * c for group, c in groups.items())
    return credit, sum(gw.get(group, 1.0) for group in groups), first


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
    rollouts: list[dict | None] | None = None,
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
    for i, ro in enumerate(rollouts or ()):
        if plan.resample_queries and isinstance(ro, dict):
            score, why, actions = _candidate_resample(ro, i % plan.game.num_players, plan, golden)
            scores.append(score)
            if why is not None:
                failure = _fail(failure, "information", f"candidate game {i}: {why}", actions)
    resample_score = sum(scores) / max(len(scores), 1)
    leak, leak_failure, leak_details = _leak_score(
        sem_traces, leak_traces, plan, leak_pairs, rollouts, golden
    )
    failure = failure or leak_failure
    score = (
        resample_score if leak is None else (1 - leak_share) * resample_score + leak_share * leak
    )
    return TierResult(score, failure, {"resample": resample_score, "leak": leak, **leak_details})


def _candidate_resample(ro: dict, player: int, plan: GoldenPlan, golden) -> tuple:
    """resample_history on the candidate's view of its own game (the harness asks it
    once per candidate-driven game), checked as a query on a golden game is, as far as
    the golden followed that game: so a notation of the candidate's own, which stops
    every query on the golden's games, does not hide how its resample_history works.
    (score, problem or None, the actions of the view)."""
    actions, probes = _candidate_moves(ro, plan.game.name, golden)
    res = ro.get("resample")
    cut = res.get("cut") if isinstance(res, dict) else None
    if type(cut) is not int or not 0 <= cut <= len(actions) or res.get("player") != player:
        return 0.0, "no resample_history answer", actions
    prefix = actions[:cut]
    gstates = _golden_along(plan.game.name, golden, tuple(actions), plan.game.num_players, probes)
    if len(gstates) <= cut:
        return 0.0, "the golden does not follow the game resampled", prefix
    samples = res.get("samples")
    if not isinstance(samples, list) or not samples:
        return 0.0, f"resample_history: {res.get('problem') or 'no answer'}", prefix
    history = observation_history(golden, prefix, player)
    total, first = 0.0, None
    for sample in samples:
        ok, why = _check_resample(sample, prefix, player, history, golden)
        total += ok
        if ok < 1.0 and first is None:
            first = f"resample_history for player {player} after {cut} actions: {why}"
    return total / len(samples), first, prefix


def _golden_spelling(
    game: str, golden: types.ModuleType, actions: tuple[str, ...]
) -> tuple[str, ...]:
    """A candidate's moves as the golden spells them: each move the golden does not list
    where it is played is replaced by the one golden move spelled alike (up to case and
    punctuation), as far as the golden follows. The information tier reads the
    candidate's own games through it, so a notation of the candidate's own (whose games
    draw renamed moves as they draw any other) does not end the golden's view of them at
    the first renamed move and hide a leak or a broken resample_history behind it."""
    key = (game, actions)
    hit = _SPELLING_CACHE.get(key)
    if hit is not None:
        return hit
    out: list[str] = []
    try:
        state = golden.get_initial_state()
        for action in actions:
            legal = list(golden.get_legal_actions(state))
            move = action if action in legal else _harness.spelled_alike(action, legal)
            if move is None:
                break
            out.append(move)
            state = golden.apply_action(state, move)
    except Exception:  # noqa: BLE001, S110 - the golden refuses: follow no further
        pass
    result = tuple(out) + tuple(actions[len(out) :])  # the rest as played (not followed)
    if len(_SPELLING_CACHE) >= 256:
        _SPELLING_CACHE.clear()
    _SPELLING_CACHE[key] = result
    return result


_SPELLING_CACHE: dict[tuple, tuple[str, ...]] = {}


def _candidate_moves(
    ro: dict, game: str | None = None, golden: types.ModuleType | None = None
) -> tuple[list[str], tuple]:
    """The moves of a candidate-driven game and the rejection probes of each state; with
    the `golden` (of `game`), the moves as it spells them (`_golden_spelling`)."""
    steps = ro["steps"] if isinstance(ro.get("steps"), list) else []
    actions = []
    for step in steps[:-1]:
        if not isinstance(step, dict) or type(step.get("a")) is not str:
            break
        actions.append(step["a"])
    probes = tuple(
        tuple(step["probes"]) if isinstance(step, dict) and _str_list(step.get("probes")) else ()
        for step in steps
    )
    if golden is not None:
        actions = list(_golden_spelling(game, golden, tuple(actions)))
    return actions, probes


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


def _leak_score(
    sem_traces, leak_traces, plan: GoldenPlan, max_pairs: int, rollouts=(), golden=None
):
    """Do the candidate's observations separate exactly the histories the golden's do?

    States are taken from the golden-driven games, from golden resamples of the query
    histories (same view, other hidden facts) and from the candidate-driven games as far
    as the golden follows them (so a view is still judged when another fault, say a
    notation of its own, cuts the golden-driven games short). For each player: pairs the golden shows
    alike must look alike to the candidate (else it leaks), pairs the golden shows apart
    must differ (else it hides what the player may know).

    The score is the product of the two agreement rates over the pairs of states the
    candidate reached (playing the golden's actions, `reach`, or its own moves the golden
    followed), times the share of pairs it reached: a view that shows nothing leaks
    nothing, but carries nothing either, and earns 0; so does one that shows everything;
    a candidate that reaches a fifth of the states earns at most a fifth."""
    states: dict[tuple, tuple[list[str], list[str] | None]] = {}
    sources = list(zip(plan.semantic_actions, plan.semantic_traces, sem_traces))
    sources += list(zip(plan.leak_actions, plan.leak_traces, leak_traces))
    for actions, gtrace, ctrace in sources:
        cstates = ctrace.get("states", []) if isinstance(ctrace, dict) else []
        reached = reach(actions, ctrace, len(gtrace["states"]))
        for t, gold in enumerate(gtrace["states"]):
            key = tuple(actions[:t])
            if key in states and states[key][1] is not None:
                continue
            cobs = None
            if t < reached and isinstance(cstates[t].get("o"), list):
                cobs = cstates[t]["o"]
            states[key] = (gold["o"], cobs)
    for ro in rollouts or ():
        if golden is None or not isinstance(ro, dict) or not isinstance(ro.get("steps"), list):
            continue
        actions, probes = _candidate_moves(ro, plan.game.name, golden)
        gstates = _golden_along(
            plan.game.name, golden, tuple(actions), plan.game.num_players, probes
        )
        for t, gold in enumerate(gstates[: len(ro["steps"])]):
            key = tuple(actions[:t])
            if key in states and states[key][1] is not None:
                continue
            rec = ro["steps"][t].get("rec")
            cobs = (
                rec.get("o") if isinstance(rec, dict) and isinstance(rec.get("o"), list) else None
            )
            states[key] = (gold["o"], cobs)
    keys = list(states)
    rng = rng_for(plan.seed, plan.game.name, "leak")
    # golden says alike? -> [agreeing, pairs of two reached states, pairs]
    counts = {True: [0, 0, 0], False: [0, 0, 0]}
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
                counts[alike][2] += 1
                if ca is None or cb is None:
                    continue  # a state the candidate did not reach
                counts[alike][1] += 1
                ok = len(ca) > player and len(cb) > player and (ca[player] == cb[player]) == alike
                counts[alike][0] += ok
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
    (same_ok, same_r, same_n), (diff_ok, diff_r, diff_n) = counts[True], counts[False]
    details = {"same_view_pairs": same_n, "different_view_pairs": diff_n}
    if not same_n and not diff_n:
        return None, None, details
    reached = (same_r + diff_r) / (same_n + diff_n)
    details["pairs_reached"] = reached
    if failure is None and reached < 1.0:
        failure = Failure(
            "information",
            f"observation check: the candidate reached {100 * reached:.0f}% of the pairs of "
            "states compared",
            [],
        )
    rates = ((same_ok, same_r, same_n), (diff_ok, diff_r, diff_n))
    if any(n and not r for _, r, n in rates):
        return 0.0, failure, details  # a kind of pair the golden has, none of them reached
    parts = [ok / r for ok, r, n in rates if n]
    return math.prod(parts) * reached, failure, details
