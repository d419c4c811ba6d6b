"""The untrusted side of the verifier: the sandbox and the harness that drives a candidate.

This file has two roles.

* Imported (by the trusted verifier), it provides the *harness*: `trace`, `rollout`,
  `static_probe`, `resample`, `canonical`, and `plan` (the arena's MCTS move, see
  `mcts.py` and `gamecwm_jax/arena.py`). They drive any module implementing
  `games/API.md` and return plain data (JSON-able dicts). The trusted side runs them on the
  golden, the sandboxed child runs them on the candidate, so both sides are recorded in
  exactly the same format and compared in the trusted process.
* Run as a script (`python -S -s _worker.py REPO_ROOT`), it is a *zygote*: a warm worker
  that has imported everything a candidate may need, reads jobs (candidate code + a list of
  queries) as length-prefixed JSON on stdin, and for each job forks a child that locks
  itself down (see `_lock_down`), runs the candidate and streams one result frame per query
  back over a private pipe. The zygote enforces the wall-clock deadline, kills the child,
  deletes its scratch directory and answers the parent on stdout.

Only the standard library is used, so the zygote starts in tens of milliseconds and never
imports anything from site-packages.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import random
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import types

if __package__:  # imported by the trusted side
    from gamecwm_jax.verify import mcts
else:  # run as the zygote script: this folder is still sys.path[0] (zygote_main drops it)
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
        ok, value = call(getattr(module, name), state)
        if ok:
            rec[key] = plain(value)
        else:
            rec[key] = None
            errors[key] = value
    ok, obs = call(module.get_observations, state)
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


def trace(module, actions: list, num_players: int) -> dict:
    """Replays `actions` from the initial state, recording every state.

    Stops at the first action that apply_action rejects (raises); an action the module does
    not list as legal is still applied if apply_action accepts it (the comparison of legal
    sets already charges for that).
    """
    ok, state = call(module.get_initial_state)
    if not ok:
        return {"states": [], "error": f"get_initial_state raised {state}", "at": 0}
    states = [observe(module, state, num_players)]
    for t, action in enumerate(actions):
        ok, nxt = call(module.apply_action, state, action)
        if not ok:
            return {"states": states, "error": f"apply_action({action!r}) raised {nxt}", "at": t}
        state = nxt
        states.append(observe(module, state, num_players))
    return {"states": states, "error": None, "at": len(actions)}


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


def rollout(module, seed: str, max_steps: int, num_players: int) -> dict:
    """A random game driven by the module itself, with the dynamics checks of each step.

    Each step holds the state's record (see `observe`), the action taken and flags:
    json (state JSON-like), det (every getter answers the same on a deep copy), pure
    (apply_action left its input unchanged), adet (applying the same action to a copy gives
    the same state), apply (apply_action accepted the module's own legal action).
    `end` is "terminal", "bound" (max_steps actions without reaching a terminal),
    "error" (an exception or unusable answer) or "stuck" (no legal action at a
    non-terminal state).
    """
    rng = random.Random(seed)
    ok, state = call(module.get_initial_state)
    if not ok:
        return {"steps": [], "end": "error", "error": f"get_initial_state raised {state}"}
    steps = []
    for _ in range(max_steps + 1):
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
        if "err" in rec:
            return {"steps": steps, "end": "error", "error": "a getter raised"}
        legal = _legal_strings(rec["l"])
        if rec["p"] == TERMINAL:
            return {"steps": steps, "end": "terminal", "error": None}
        if not legal:
            return {"steps": steps, "end": "stuck", "error": "no legal action"}
        if len(steps) > max_steps:
            return {"steps": steps, "end": "bound", "error": None}
        if rec["p"] == CHANCE and _valid_chance(rec["c"], legal):
            action = rng.choices([a for a, _ in rec["c"]], weights=[p for _, p in rec["c"]])[0]
        else:
            action = rng.choice(legal)
        step["a"] = action
        ok, nxt = call(module.apply_action, state, action)
        flags["apply"] = ok
        if not ok:
            step["f"]["apply_error"] = nxt
            return {"steps": steps, "end": "error", "error": f"apply_action raised {nxt}"}
        flags["pure"] = canonical(state) == before
        if snapshot is not None:
            ok2, nxt2 = call(module.apply_action, snapshot, action)
            flags["adet"] = ok2 and canonical(nxt2) == canonical(nxt)
        else:
            flags["adet"] = False
        state = nxt
    return {"steps": steps, "end": "bound", "error": None}  # pragma: no cover


def static_probe(module, required: list, num_players: int) -> dict:
    """Which interface functions exist with the right arity, and the initial state's answers."""
    funcs = {}
    for name in required:
        fn = getattr(module, name, None)
        if not callable(fn):
            funcs[name] = "missing"
            continue
        try:
            inspect.signature(fn).bind(*range(ARITY.get(name, 1)))
            funcs[name] = "ok"
        except QueryTimeout:
            raise
        except BaseException:  # noqa: BLE001 - TypeError, or a builtin without signature
            funcs[name] = "arity"
    out: dict = {"funcs": funcs}
    if any(
        funcs.get(n) != "ok"
        for n in (
            "get_initial_state",
            "get_current_player",
            "get_legal_actions",
            "get_chance_outcomes",
            "get_rewards",
            "get_observations",
        )
    ):
        return out
    ok, state = call(module.get_initial_state)
    if not ok:
        out["init_error"] = state
        return out
    out["init_type"] = type(state).__name__
    out["init_json"] = not canonical(state).startswith("!")
    out["rec"] = observe(module, state, num_players)
    if funcs.get("get_player_name") == "ok":
        names = []
        for p in list(range(num_players)) + [CHANCE, TERMINAL]:
            ok, name = call(module.get_player_name, p)
            names.append(type(name).__name__ if ok else "error")
        out["names"] = names
    return out


def obs_history(module, actions: list, player: int, num_players: int):
    """(history, None) or (None, problem): the `obs_action_history` of games/API.md, with
    each observation as a canonical string; every action must be listed as legal."""
    ok, state = call(module.get_initial_state)
    if not ok:
        return None, f"get_initial_state raised {state}"
    history = []
    for t in range(len(actions) + 1):
        ok, obs = call(module.get_observations, state)
        if not ok or type(obs) not in (list, tuple) or len(obs) <= player:
            return None, f"step {t}: no observation for player {player}"
        ok, current = call(module.get_current_player, state)
        if not ok:
            return None, f"step {t}: get_current_player raised {current}"
        if t == len(actions):
            history.append({"observation": obs[player], "action": None})
            break
        action = actions[t]
        ok, legal = call(module.get_legal_actions, state)
        if not ok or type(legal) not in (list, tuple) or action not in legal:
            return None, f"step {t}: action {action!r} is not legal"
        history.append(
            {"observation": obs[player], "action": action if current == player else None}
        )
        ok, state = call(module.apply_action, state, action)
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
    ok, out = call(module.resample_history, copy.deepcopy(history), player)
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
        return trace(module, query["actions"], num_players)
    if kind == "rollout":
        return rollout(module, query["seed"], query["max_steps"], num_players)
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


# --------------------------------------------------------------------------------------
# The sandboxed child
# --------------------------------------------------------------------------------------

# Imported by the zygote so candidates find them without reading any file.
PRELOAD = (
    "__future__",
    "abc",
    "array",
    "ast",
    "base64",
    "binascii",
    "bisect",
    "cmath",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "io",
    "itertools",
    "json",
    "keyword",
    "logging",
    "math",
    "numbers",
    "operator",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "statistics",
    "string",
    "struct",
    "textwrap",
    "threading",
    "time",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "warnings",
    "weakref",
    "zlib",
)
# A candidate may not import these (they are dropped from sys.modules before it runs, so
# an import re-triggers the audited import machinery).
DENIED_MODULES = (
    "ctypes",
    "_ctypes",
    "socket",
    "_socket",
    "ssl",
    "_ssl",
    "subprocess",
    "_posixsubprocess",
    "multiprocessing",
    "_multiprocessing",
    "asyncio",
    "concurrent",
    "pty",
    "select",
    "selectors",
    "signal",
    "_signal",
    "resource",
    "shutil",
    "tempfile",
    "urllib",
    "http",
    "ftplib",
    "smtplib",
    "telnetlib",
    "gamecwm_jax",
)
DENIED_EVENTS = (
    "os.system",
    "os.exec",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.startfile",
    "os.kill",
    "os.killpg",
    "os.setuid",
    "subprocess.Popen",
    "resource.setrlimit",
    "resource.prlimit",
    "builtins.input",
    "signal.pthread_kill",
    "pty.spawn",
    "webbrowser.open",
)
DENIED_PREFIXES = ("socket.", "ctypes.", "_ctypes.", "winreg.", "ftplib.", "smtplib.", "urllib.")
# Events whose first argument (two for rename/link) is a path that must lie in scratch.
PATH_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "os.chmod": 1,
    "os.chown": 1,
    "os.truncate": 1,
    "os.utime": 1,
    "os.listdir": 1,
    "os.scandir": 1,
    "os.chdir": 1,
    "os.chflags": 1,
    "os.lchflags": 1,
    "os.lchmod": 1,
    "os.lchown": 1,
    "os.mkfifo": 1,
    "os.mknod": 1,
    "shutil.rmtree": 1,
    "shutil.copyfile": 2,
    "shutil.copymode": 2,
    "shutil.copystat": 2,
    "shutil.move": 2,
    "shutil.chown": 1,
    "shutil.make_archive": 1,
    "shutil.unpack_archive": 2,
    "tempfile.mkstemp": 1,
    "tempfile.mkdtemp": 1,
    "os.getxattr": 1,
    "os.setxattr": 1,
    "os.listxattr": 1,
    "os.removexattr": 1,
}


class SandboxViolation(PermissionError):
    """Raised by the audit hook for anything a candidate may not do."""


def _make_audit_hook(scratch: str, violations: list):
    realpath = os.path.realpath
    join = os.path.join
    fspath = os.fspath
    fsdecode = os.fsdecode
    prefix = scratch.rstrip("/") + "/"

    def inside(path) -> bool:
        if path is None:  # os.listdir() / os.scandir(): the current directory
            path = "."
        if isinstance(path, int):
            return False
        try:
            full = realpath(join(scratch, fsdecode(fspath(path))))
        except BaseException:  # noqa: BLE001
            return False
        return full == scratch or full.startswith(prefix)

    def deny(event: str):
        if len(violations) < 50:
            violations.append(event)
        raise SandboxViolation(f"sandbox: {event} is not allowed")

    def hook(event: str, args: tuple):
        if event == "open":
            if not inside(args[0]):
                deny(f"open {args[0]!r}"[:200])
            return
        if event == "import":
            name = args[0] if args else ""
            if isinstance(name, str) and name.split(".")[0] in DENIED_MODULES:
                deny(f"import {name}")
            return
        if event in DENIED_EVENTS or event.startswith(DENIED_PREFIXES):
            deny(event)
        count = PATH_EVENTS.get(event)
        if count:
            for path in args[:count]:
                if not inside(path):
                    deny(f"{event} {path!r}"[:200])
            if len(args) > count and any(isinstance(a, int) for a in args[count : count + 2]):
                deny(f"{event} with dir_fd")

    return hook


class _Discard:
    """A text stream that keeps at most 64 KiB (a candidate flooding stdout costs only
    the time it spends writing)."""

    def __init__(self):
        self.size = 0

    def write(self, text):
        self.size += len(text) if isinstance(text, str) else 0
        return len(text) if isinstance(text, str) else 0

    def flush(self):
        pass

    def isatty(self):
        return False


def _write_frame(fd: int, obj) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    header = struct.pack(">I", len(data))
    view = memoryview(header + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _lock_down(job: dict, out_fd: int, scratch: str, violations: list) -> None:
    """Everything a child does to itself before the candidate's first line runs."""
    os.setsid()  # its own process group, so the zygote can kill everything it is
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, out_fd)
    os.closerange(out_fd + 1, 65536)
    limits = job["limits"]
    cpu = int(math.ceil(limits["cpu_s"]))
    mem = int(limits["memory_mb"]) * 2**20
    for res, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (int(limits["file_mb"]) * 2**20,) * 2),
        (resource.RLIMIT_NOFILE, (32, 32)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (0, 0)),
    ):
        try:
            resource.setrlimit(res, value)
        except (ValueError, OSError):
            pass
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update({"HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8", "PATH": ""})
    tempfile.tempdir = scratch
    if os.getuid() == 0:  # drop root: no writing root's files, and RLIMIT_NPROC applies
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    sys.path[:] = []
    sys.path_importer_cache.clear()
    for name in list(sys.modules):
        if name.split(".")[0] in DENIED_MODULES:
            del sys.modules[name]
    sys.stdin = None
    sys.stdout = sys.stderr = _Discard()
    sys.setrecursionlimit(2000)
    sys.addaudithook(_make_audit_hook(scratch, violations))


def _child(job: dict, out_fd: int, scratch: str) -> None:
    setitimer, ITIMER_REAL = signal.setitimer, signal.ITIMER_REAL
    violations: list = []

    def on_alarm(signum, frame):
        raise QueryTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    _lock_down(job, out_fd, scratch, violations)
    n = job["num_players"]
    query_s = float(job["limits"]["query_s"])
    random.seed(job["seed"])
    module = None
    try:
        setitimer(ITIMER_REAL, query_s)
        module = types.ModuleType("candidate")
        module.__file__ = "<candidate>"
        sys.modules["candidate"] = module
        try:
            exec(compile(job["code"], "<candidate>", "exec"), module.__dict__)  # noqa: S102
            loaded = {"ok": True}
        except QueryTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001
            loaded = {"ok": False, "error": describe(exc)}
        if loaded["ok"]:
            loaded["probe"] = static_probe(module, job["required"], n)
        setitimer(ITIMER_REAL, 0)
        _write_frame(out_fd, loaded)
        complete = loaded["ok"] and all(v != "missing" for v in loaded["probe"]["funcs"].values())
        if complete:
            for query in job["queries"]:
                random.seed(f"{job['seed']}:{query.get('seed', '')}")
                setitimer(ITIMER_REAL, query_s)
                result = run_query(module, query, n)
                setitimer(ITIMER_REAL, 0)
                _write_frame(out_fd, result)
        _write_frame(out_fd, {"done": True, "violations": violations})
    except QueryTimeout:
        setitimer(ITIMER_REAL, 0)
        _write_frame(out_fd, {"timeout": True, "violations": violations})
    except BaseException as exc:  # noqa: BLE001 - e.g. a broken frame
        _write_frame(out_fd, {"crash": describe(exc), "violations": violations})


# --------------------------------------------------------------------------------------
# The zygote
# --------------------------------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int):
    header = _read_exact(fd, 8)
    if header is None:
        return None
    (size,) = struct.unpack(">Q", header)
    body = _read_exact(fd, size)
    return None if body is None else json.loads(body)


def write_message(fd: int, obj, body: bytes = b"") -> None:
    """8-byte length, a JSON header, then `body` (raw bytes, its length in the header)."""
    obj = dict(obj, body_len=len(body))
    data = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(struct.pack(">Q", len(data)) + data + body)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _collect(fd: int, deadline: float, max_bytes: int):
    """Frames the child wrote before EOF or the deadline: (frames, why it stopped)."""
    buf = bytearray()
    why = "eof"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            why = "timeout"
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            why = "timeout"
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buf += chunk
        if len(buf) > max_bytes:
            why = "too much output"
            break
    end = 0
    while end + 4 <= len(buf):  # keep whole frames only; their JSON is parsed by the parent
        (size,) = struct.unpack(">I", bytes(buf[end : end + 4]))
        if end + 4 + size > len(buf):
            break
        end += 4 + size
    return bytes(buf[:end]), why


def split_frames(body: bytes) -> list:
    """The JSON values of the length-prefixed frames in `body` (stops at a corrupt one)."""
    frames = []
    pos = 0
    while pos + 4 <= len(body):
        (size,) = struct.unpack(">I", body[pos : pos + 4])
        try:
            frames.append(json.loads(body[pos + 4 : pos + 4 + size]))
        except (ValueError, RecursionError):  # garbage a candidate wrote on the pipe
            break
        pos += 4 + size
    return frames


def run_job(job: dict, scratch_base: str) -> dict:
    start = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="cand-", dir=scratch_base)
    if os.getuid() == 0:
        os.chown(scratch, NOBODY, NOBODY)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into the zygote loop
        try:
            os.close(read_fd)
            _child(job, write_fd, scratch)
        finally:
            os._exit(0)
    os.close(write_fd)
    limits = job["limits"]
    body, why = _collect(read_fd, start + float(limits["wall_s"]), int(limits["output_mb"]) * 2**20)
    os.close(read_fd)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(scratch, ignore_errors=True)
    if os.WIFSIGNALED(status) and why == "eof":
        sig = os.WTERMSIG(status)
        why = "killed by signal " + (
            signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        )
    return {
        "stopped": why,
        "wall_s": time.monotonic() - start,
        "exit": os.waitstatus_to_exitcode(status),
    }, body


def _unshare_network() -> bool:
    """Moves the zygote (and so every child) into an empty network namespace if allowed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(0x40000000) == 0  # CLONE_NEWNET
    except Exception:  # noqa: BLE001
        return False


def zygote_main(argv: list) -> None:
    repo_root = argv[1]
    scratch_base = argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    for name in PRELOAD:
        __import__(name)
    del repo_root
    netns = _unshare_network()
    for name in list(sys.modules):  # ctypes was only for unshare
        if name.split(".")[0] in ("ctypes", "_ctypes"):
            del sys.modules[name]
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    write_message(out_fd, {"ready": True, "pid": os.getpid(), "netns": netns})
    while True:
        job = read_message(in_fd)
        if job is None:
            return
        try:
            reply, body = run_job(job, scratch_base)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            reply, body = (
                {"stopped": f"zygote error: {describe(exc)}", "wall_s": 0.0, "exit": None},
                b"",
            )
        write_message(out_fd, reply, body)


if __name__ == "__main__":
    zygote_main(sys.argv)
