"""The in-sandbox harness: drives any module implementing games/API.md and records plain data.

`trace`, `rollout`, `static_probe`, `resample` and `plan` (the arena's MCTS move, see
`mcts.py`) return JSON-able dicts. The trusted side runs them on the golden (`plan.py`), the
sandboxed child (`_worker.py`) runs them on the candidate, so both are recorded in exactly
the same format and compared in the trusted process (`score.py`).

A function the module does not define is not an error here: calling it records an error
for that call only, so a missing function costs only the checks that need it. Only the
standard library is used: the zygote imports this file without site-packages.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import random

if __package__:  # imported by the trusted side
    from gamecwm_jax.verify import mcts
else:  # imported by the zygote script, from this folder
    import mcts

CHANCE = -1
TERMINAL = -4
NOBODY = 65534

# Arity (number of positional arguments) of each interface function.
ARITY = {
    "get_initial_state": 0,
    "apply_action": 2,
    "get_current_player": 1,
    "get_player_name": 1,
    "get_legal_actions": 1,
    "get_chance_outcomes": 1,
    "get_rewards": 1,
    "get_observations": 1,
    "resample_history": 2,
}

MAX_LIST = 5000  # longest list returned from the child
MAX_STR = 2000  # longest string returned from the child
MAX_DEPTH = 24


class QueryTimeout(BaseException):
    """Raised by the per-query interval timer inside the sandboxed child."""


class MissingFunction(NameError):
    """What calling an interface function the candidate does not define raises."""


def fn(module, name: str):
    """The module's `name`, or a function that raises `MissingFunction` when called: a
    missing function fails each call that needs it and nothing else."""
    value = getattr(module, name, None)
    if value is not None:
        return value

    def missing(*args, **kwargs):
        raise MissingFunction(f"{name} is not defined")

    return missing


# --------------------------------------------------------------------------------------
# Plain data from arbitrary candidate values
# --------------------------------------------------------------------------------------


def _safe_repr(value) -> str:
    try:
        text = repr(value)
    except QueryTimeout:
        raise
    except BaseException:  # noqa: BLE001 - candidate objects may raise anything
        return "<unrepresentable>"
    return text if isinstance(text, str) else "<unrepresentable>"


def plain(value, depth: int = 0):
    """A JSON-able copy of `value`: exact builtin types pass, anything else is described."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is str:
        return value if len(value) <= MAX_STR else value[:MAX_STR] + "...<truncated>"
    if kind is int:
        return value if -(2**62) < value < 2**62 else {"__repr__": "<huge int>"}
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if depth > MAX_DEPTH:
        return {"__repr__": "<too deep>"}
    if kind is list or kind is tuple:
        out = [plain(v, depth + 1) for v in value[:MAX_LIST]]
        if len(value) > MAX_LIST:
            out.append({"__repr__": "<truncated list>"})
        return out
    if kind is dict:
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_LIST:
                break
            out[k if type(k) is str else "!" + _safe_repr(k)[:200]] = plain(v, depth + 1)
        return out
    return {"__repr__": _safe_repr(value)[:200], "__type__": kind.__name__}


def _integral_floats_as_ints(value, depth: int = 0):
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if depth > MAX_DEPTH:
        return value
    if kind is dict:
        return {k: _integral_floats_as_ints(v, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_integral_floats_as_ints(v, depth + 1) for v in value]
    return value


def canonical(value) -> str:
    """A string that is equal for equal JSON-like values (dict key order ignored, tuples
    as lists, 2.0 as 2). Values that are not JSON-like get a '!'-prefixed repr, so they
    never equal a JSON one.
    """
    try:
        return json.dumps(
            _integral_floats_as_ints(value), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except QueryTimeout:
        raise
    except BaseException:  # noqa: BLE001
        return "!" + _safe_repr(value)[:MAX_STR]


def describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except QueryTimeout:
        raise
    except BaseException:  # noqa: BLE001
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text[:300]}"


def call(fn, *args):
    """(True, result) or (False, 'ExcType: message'); only the query timer gets through."""
    try:
        return True, fn(*args)
    except QueryTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
        return False, describe(exc)


# --------------------------------------------------------------------------------------
# The harness: records a module's answers along action sequences
# --------------------------------------------------------------------------------------


def observe(module, state, num_players: int) -> dict:
    """Everything the interface says about one state, as plain data.

    Keys: p (current player), l (legal actions), c (chance outcomes), r (rewards),
    o (one canonical observation string per player); `err` maps a key to the exception
    the call raised.
    """
    rec: dict = {}
    errors = {}
    for key, name in (
        ("p", "get_current_player"),
        ("l", "get_legal_actions"),
        ("c", "get_chance_outcomes"),
        ("r", "get_rewards"),
    ):
        ok, value = call(fn(module, name), state)
        if ok:
            rec[key] = plain(value)
        else:
            rec[key] = None
            errors[key] = value
    ok, obs = call(fn(module, "get_observations"), state)
    if not ok:
        rec["o"] = None
        errors["o"] = obs
    elif type(obs) in (list, tuple):
        rec["o"] = [canonical(o) for o in obs[:64]]
    else:
        rec["o"] = None
        errors["o"] = f"get_observations returned {type(obs).__name__}, not a list"
    if errors:
        rec["err"] = errors
    return rec


def trace(module, actions: list, num_players: int, illegal: list | None = None) -> dict:
    """Replays `actions` from the initial state, recording every state.

    Stops at the first action that apply_action rejects (raises); an action the module does
    not list as legal is still applied if apply_action accepts it (the scorer stops
    crediting a trace at the first action the module does not offer). `illegal[t]`, when
    given, lists action strings the golden rejects at state t: each is applied to a deep
    copy of that state and `rej` records, per string, whether apply_action raised (as
    games/API.md requires).
    """
    ok, state = call(fn(module, "get_initial_state"))
    if not ok:
        return {"states": [], "error": f"get_initial_state raised {state}", "at": 0}
    states = [_observe_with_probes(module, state, num_players, illegal, 0)]
    for t, action in enumerate(actions):
        ok, nxt = call(fn(module, "apply_action"), state, action)
        if not ok:
            return {"states": states, "error": f"apply_action({action!r}) raised {nxt}", "at": t}
        state = nxt
        states.append(_observe_with_probes(module, state, num_players, illegal, t + 1))
    return {"states": states, "error": None, "at": len(actions)}


def _copy(state):
    """A deep copy; a JSON round trip (several times faster than deepcopy) when the
    state is JSON-like, as games/API.md asks, and gives back an equal value."""
    try:
        copied = json.loads(json.dumps(state))
    except QueryTimeout:
        raise
    except BaseException:  # noqa: BLE001 - not JSON-like: the slow, general copy
        return copy.deepcopy(state)
    return copied if copied == state else copy.deepcopy(state)


def _observe_with_probes(module, state, num_players: int, illegal, t: int) -> dict:
    rec = observe(module, state, num_players)
    probes = illegal[t] if illegal is not None and t < len(illegal) else None
    if probes:
        rejected = []
        for action in probes:
            ok, snapshot = call(_copy, state)  # a mutating apply must not matter
            ok, _ = call(fn(module, "apply_action"), snapshot if ok else state, action)
            rejected.append(not ok)
        rec["rej"] = rejected
    return rec


def _valid_chance(outcomes, legal) -> bool:
    try:
        if type(outcomes) not in (list, tuple) or not outcomes:
            return False
        total = 0.0
        for item in outcomes:
            if type(item) not in (list, tuple) or len(item) != 2:
                return False
            action, p = item
            if type(action) is not str or type(p) not in (int, float) or not p > 0:
                return False
            total += p
        return abs(total - 1.0) < 1e-6 and {a for a, _ in outcomes} == set(legal)
    except QueryTimeout:
        raise
    except BaseException:  # noqa: BLE001
        return False


def _legal_strings(legal):
    if type(legal) not in (list, tuple):
        return None
    if not all(type(a) is str for a in legal):
        return None
    return list(legal)


def rollout(
    module,
    seed: str,
    max_steps: int,
    num_players: int,
    prefer: list | None = None,
    resample_player: int | None = None,
    script: list | None = None,
) -> dict:
    """`_rollout`, and with `resample_player`: `resample_history` asked once on that
    player's view of the game just played (the whole game a quarter of the time, else up
    to a random state where the player is to move), as `resample` does for the golden's
    games; recorded as `resample`: {"cut", "player", "samples", "problem"}."""
    out = _rollout(module, seed, max_steps, num_players, prefer, script)
    if resample_player is None or not out["steps"]:
        return out
    actions = []
    for step in out["steps"][:-1]:  # the last step's move, if any, was refused
        if type(step.get("a")) is not str:
            break
        actions.append(step["a"])
    rng = random.Random(f"{seed}:resample")
    own = [t for t in range(1, len(actions)) if out["steps"][t]["rec"].get("p") == resample_player]
    cut = len(actions) if rng.random() < 0.25 or not own else rng.choice(own)
    res = resample(module, actions[:cut], resample_player, num_players, f"{seed}:resample")
    out["resample"] = dict(res, cut=cut, player=resample_player)
    return out


def spelling_key(action) -> str:
    """An action string up to case and punctuation: "E2-E4", "(e2e4)" and "e2e4" alike."""
    return "".join(ch for ch in str(action).lower() if ch.isalnum())


def spelled_alike(action: str, legal: list) -> str | None:
    """The one legal action spelled as `action` up to case and punctuation, if exactly one."""
    want = spelling_key(action)
    alike = [a for a in legal if spelling_key(a) == want]
    return alike[0] if want and len(alike) == 1 else None


def _rollout(
    module,
    seed: str,
    max_steps: int,
    num_players: int,
    prefer: list | None = None,
    script: list | None = None,
) -> dict:
    """A random game driven by the module itself, with the dynamics checks of each step.

    `prefer` (the action strings the golden uses, when given): the move is drawn among
    the module's legal actions (or chance outcomes, reweighted) spelled that way up to
    case and punctuation (`spelling_key`), and only when there is none among all of them;
    so a module that writes some actions in its own notation plays the games it would
    play without it (the same draws), which the golden can follow, rule by rule, to
    their end, and one whose actions the golden has no name for is not steered at all. Each
    non-terminal step then also records `probes`, two strings the module does not list as
    legal there (one of `prefer`, one of its legal actions with a stray suffix), and `rej`,
    whether apply_action raised on each (applied to a copy); the scorer counts those the
    golden rejects too.

    Each step holds the state's record (see `observe`), the action taken and flags:
    json (state JSON-like), det (every getter answers the same on a deep copy), pure
    (apply_action left its input unchanged), adet (applying the same action to a copy gives
    the same state), apply (apply_action accepted the module's own legal action).
    `end` is "terminal", "bound" (max_steps actions without reaching a terminal),
    "error" (an exception or unusable answer) or "stuck" (no legal action at a
    non-terminal state).

    `script` (a golden game's actions): the module plays them while it offers each, the
    same string or the one spelled alike up to case and punctuation (a notation of its
    own); from the first it offers neither way on, the moves are drawn as above. So the
    end of a long game (a checkmate deep in the golden's coverage suite) is reached
    through a notation of the module's own, and the golden follows it there.
    """
    rng = random.Random(seed)
    known = {spelling_key(a) for a in prefer} if prefer else None
    probe_rng = random.Random(f"{seed}:probes")
    ok, state = call(fn(module, "get_initial_state"))
    if not ok:
        return {"steps": [], "end": "error", "error": f"get_initial_state raised {state}"}
    steps = []
    for t in range(max_steps + 1):  # t: this step's index in `steps`
        rec = observe(module, state, num_players)
        flags = {}
        before = canonical(state)
        flags["json"] = not before.startswith("!")
        ok, snapshot = call(copy.deepcopy, state)
        if ok:
            flags["det"] = observe(module, snapshot, num_players) == rec
        else:
            flags["det"] = False
            snapshot = None
        step = {"rec": rec, "a": None, "f": flags}
        steps.append(step)
        if "p" in rec.get("err", {}) or "l" in rec.get("err", {}):
            # without a player and legal actions the game cannot go on; other getters
            # that raise are charged step by step and the rollout continues
            return {"steps": steps, "end": "error", "error": "a getter raised"}
        legal = _legal_strings(rec["l"])
        if rec["p"] == TERMINAL:
            return {"steps": steps, "end": "terminal", "error": None}
        if not legal:
            return {"steps": steps, "end": "stuck", "error": "no legal action"}
        if len(steps) > max_steps:
            return {"steps": steps, "end": "bound", "error": None}
        if known is not None:
            _probe_step(module, state, step, legal, prefer, probe_rng)
        wanted = script[t] if script is not None and t < len(script) else None
        scripted = None
        if wanted is not None:
            scripted = wanted if wanted in legal else spelled_alike(wanted, legal)
            if scripted is None:
                script = None  # off the golden's game: drawn moves from here on
        if scripted is not None:
            action = scripted
        elif rec["p"] == CHANCE and _valid_chance(rec["c"], legal):
            outcomes = rec["c"]
            if known is not None:
                outcomes = [(a, p) for a, p in outcomes if spelling_key(a) in known] or outcomes
            action = rng.choices([a for a, _ in outcomes], weights=[p for _, p in outcomes])[0]
        else:
            pool = legal
            if known is not None:
                pool = [a for a in legal if spelling_key(a) in known] or legal
            action = rng.choice(pool)
        step["a"] = action
        ok, nxt = call(fn(module, "apply_action"), state, action)
        flags["apply"] = ok
        if not ok:
            step["f"]["apply_error"] = nxt
            return {"steps": steps, "end": "error", "error": f"apply_action raised {nxt}"}
        flags["pure"] = canonical(state) == before
        if snapshot is not None:
            ok2, nxt2 = call(fn(module, "apply_action"), snapshot, action)
            flags["adet"] = ok2 and canonical(nxt2) == canonical(nxt)
        else:
            flags["adet"] = False
        state = nxt
    return {"steps": steps, "end": "bound", "error": None}  # pragma: no cover


def _probe_step(module, state, step: dict, legal: list, vocabulary: list, rng) -> None:
    """Applies two strings the module does not list as legal to copies of `state`."""
    listed = set(legal)
    probes = []
    for _ in range(5):
        action = vocabulary[rng.randrange(len(vocabulary))]
        if action not in listed:
            probes.append(action)
            break
    probes.append(rng.choice(legal) + rng.choice(("#", " ?", "_0", "!")))
    rejected = []
    for action in probes:
        ok, snapshot = call(_copy, state)
        ok, _ = call(fn(module, "apply_action"), snapshot if ok else state, action)
        rejected.append(not ok)
    step["probes"], step["rej"] = probes, rejected


def static_probe(module, required: list, num_players: int) -> dict:
    """Which interface functions exist with the right arity, and the initial state's answers."""
    funcs = {}
    for name in required:
        func = getattr(module, name, None)
        if not callable(func):
            funcs[name] = "missing"
            continue
        try:
            inspect.signature(func).bind(*range(ARITY.get(name, 1)))
            funcs[name] = "ok"
        except QueryTimeout:
            raise
        except BaseException:  # noqa: BLE001 - TypeError, or a builtin without signature
            funcs[name] = "arity"
    out: dict = {"funcs": funcs}
    if funcs.get("get_initial_state") != "ok":
        return out
    ok, state = call(fn(module, "get_initial_state"))
    if not ok:
        out["init_error"] = state
        return out
    out["init_type"] = type(state).__name__
    out["init_json"] = not canonical(state).startswith("!")
    out["rec"] = observe(module, state, num_players)
    if funcs.get("get_player_name") == "ok":
        names = []
        for p in list(range(num_players)) + [CHANCE, TERMINAL]:
            ok, name = call(fn(module, "get_player_name"), p)
            names.append(type(name).__name__ if ok else "error")
        out["names"] = names
    return out


def obs_history(module, actions: list, player: int, num_players: int):
    """(history, None) or (None, problem): the `obs_action_history` of games/API.md, with
    each observation as a canonical string; every action must be listed as legal."""
    ok, state = call(fn(module, "get_initial_state"))
    if not ok:
        return None, f"get_initial_state raised {state}"
    history = []
    for t in range(len(actions) + 1):
        ok, obs = call(fn(module, "get_observations"), state)
        if not ok or type(obs) not in (list, tuple) or len(obs) <= player:
            return None, f"step {t}: no observation for player {player}"
        ok, current = call(fn(module, "get_current_player"), state)
        if not ok:
            return None, f"step {t}: get_current_player raised {current}"
        if t == len(actions):
            history.append({"observation": obs[player], "action": None})
            break
        action = actions[t]
        ok, legal = call(fn(module, "get_legal_actions"), state)
        if not ok or type(legal) not in (list, tuple) or action not in legal:
            return None, f"step {t}: action {action!r} is not legal"
        history.append(
            {"observation": obs[player], "action": action if current == player else None}
        )
        ok, state = call(fn(module, "apply_action"), state, action)
        if not ok:
            return None, f"step {t}: apply_action({action!r}) raised {state}"
    return history, None


def _history_key(history) -> list:
    return [(canonical(h["observation"]), h["action"]) for h in history]


def resample(
    module, actions: list, player: int, num_players: int, seed: str, samples: int = 1
) -> dict:
    """Calls the module's resample_history `samples` times on its own view of `actions`
    and checks that each answer replays legally and gives `player` the same observations
    and own actions. {"samples": [{"sampled", "self_ok", "problem"}, ...]}"""
    history, problem = obs_history(module, actions, player, num_players)
    if history is None:
        return {"samples": [], "problem": f"original history: {problem}"}
    key = _history_key(history)
    out = []
    for j in range(samples):
        random.seed(f"{seed}:{j}")
        out.append(_one_resample(module, history, key, len(actions), player, num_players))
    return {"samples": out, "problem": None}


def _one_resample(module, history, key, length: int, player: int, num_players: int) -> dict:
    ok, out = call(fn(module, "resample_history"), copy.deepcopy(history), player)
    if not ok:
        return {"sampled": None, "self_ok": False, "problem": f"resample_history raised {out}"}
    sampled = plain(out)
    if type(out) not in (list, tuple) or not all(type(a) is str for a in out):
        return {
            "sampled": None,
            "self_ok": False,
            "problem": "resample_history did not return a list of action strings",
        }
    if len(out) != length:
        return {
            "sampled": sampled,
            "self_ok": False,
            "problem": f"resampled {len(out)} actions for a history of {length}",
        }
    again, problem = obs_history(module, list(out), player, num_players)
    if again is None:
        return {"sampled": sampled, "self_ok": False, "problem": f"replaying the sample: {problem}"}
    if _history_key(again) != key:
        return {
            "sampled": sampled,
            "self_ok": False,
            "problem": "the sample changes the player's observations or own actions",
        }
    return {"sampled": sampled, "self_ok": True, "problem": None}


def plan(module, query: dict, num_players: int) -> dict:
    """The arena's move: `mcts.plan_move` over the module from what `player` may know
    (`actions` or `history`). {"action", "simulations", "root"} or {"action": None, "error"}."""
    ok, out = call(
        lambda: mcts.plan_move(
            module,
            num_players,
            query["player"],
            query["simulations"],
            query["seed"],
            actions=query.get("actions"),
            history=query.get("history"),
            uct_c=query.get("uct_c", 1.4),
            max_rollout_steps=query.get("max_rollout_steps", 1000),
        )
    )
    return plain(out) if ok else {"action": None, "error": out}


def run_query(module, query: dict, num_players: int) -> dict:
    kind = query["kind"]
    if kind == "trace":
        return trace(module, query["actions"], num_players, query.get("illegal"))
    if kind == "rollout":
        return rollout(
            module,
            query["seed"],
            query["max_steps"],
            num_players,
            query.get("prefer"),
            query.get("resample_player"),
            query.get("script"),
        )
    if kind == "resample":
        return resample(
            module,
            query["actions"],
            query["player"],
            num_players,
            query["seed"],
            query.get("samples", 1),
        )
    if kind == "plan":
        return plan(module, query, num_players)
    raise ValueError(f"unknown query kind {kind!r}")
