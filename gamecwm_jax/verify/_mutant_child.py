"""Where a mutant first disagrees with the golden, on each of many trajectories.

Two roles, like `_worker.py`:

* Imported by the trusted side, it provides `record_key`: one short digest per state
  record, equal exactly when the verifier's golden-driven comparison (`score.py`) sees no
  difference (legal actions as a set, chance outcomes only at chance nodes, numbers to 1e-6,
  observations as canonical strings, which getters raised).
* Run as a script (`python -S -s _mutant_child.py`, standard library only), it reads one
  job as JSON on stdin -- a mutant's source, trajectories and the golden's keys along them
  -- and writes for each trajectory the index of the first state record that differs (or
  null). Mutants can loop forever or eat memory, so they run only here, in a separate
  process with a memory limit and a timer per trajectory; the parent adds a wall-clock
  timeout (`mutant_probe.py`).
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import types

if __package__:  # imported by the trusted side
    from gamecwm_jax.verify import _harness
else:  # run as a script: this folder is sys.path[0]
    import _harness

CHANCE = -1


def _number(x):
    if type(x) in (int, float) and math.isfinite(x):
        return round(float(x), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    return repr(x)


def record_key(rec: dict) -> str:
    """A digest of what the verifier compares in one state record."""
    legal = rec.get("l")
    legal = sorted({str(a) for a in legal}) if isinstance(legal, list) else repr(legal)
    chance = None
    if rec.get("p") == CHANCE:
        c = rec.get("c")
        try:
            chance = sorted((str(a), _number(p)) for a, p in c)
        except (TypeError, ValueError):
            chance = repr(c)
    rewards = rec.get("r")
    rewards = [_number(x) for x in rewards] if isinstance(rewards, list) else repr(rewards)
    body = json.dumps(
        [repr(rec.get("p")), legal, chance, rewards, rec.get("o"), sorted(rec.get("err", {}))],
        sort_keys=True,
        default=repr,
    )
    return hashlib.blake2b(body.encode(), digest_size=10).hexdigest()


def _on_alarm(signum, frame):
    raise _harness.QueryTimeout()


def _first_difference(
    module, actions, golden, n: int, timeout_s: float, where: list[int]
) -> int | None:
    """The first differing state index along one trajectory (None: none); raises
    QueryTimeout when the trajectory takes longer than timeout_s, with where[0] the state
    it had reached."""
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        ok, state = _harness.call(module.get_initial_state)
        for t in range(len(golden)):
            where[0] = t
            if not ok or record_key(_harness.observe(module, state, n)) != golden[t]:
                return t
            if t < len(actions):
                ok, state = _harness.call(module.apply_action, state, actions[t])
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def first_differences(module, job: dict) -> list[int | None]:
    """For each trajectory, the first state index whose record differs from the golden's
    (a missing state -- apply_action raised -- differs).

    A trajectory that times out is run once more with ten times the time (a busy machine
    is not a behaviour change); timing out again counts as a difference after the step that hung, and
    the remaining trajectories are not run (None): a mutant that hangs once usually hangs
    on every game, one exposing trajectory is all selection needs, and each further
    trajectory would cost a timeout.

    With `job["enough"]` = k, the trajectories after the k-th that differs are not run
    either (None): selection needs a few exposing prefixes per mutant to choose from, not
    all of them, and a mutant that differs at once on the first games then costs a few
    games instead of the whole candidate set (what makes large selection pools affordable
    in long games such as chess)."""
    out: list[int | None] = []
    n = job["num_players"]
    timeout = job["trajectory_timeout_s"]
    enough = job.get("enough")
    for actions, golden in zip(job["trajectories"], job["golden_keys"]):
        if enough is not None and sum(d is not None for d in out) >= enough:
            out += [None] * (len(job["trajectories"]) - len(out))
            break
        where = [0]
        try:
            try:
                out.append(_first_difference(module, actions, golden, n, timeout, where))
            except _harness.QueryTimeout:
                out.append(_first_difference(module, actions, golden, n, 10 * timeout, where))
        except _harness.QueryTimeout:
            out.append(min(where[0] + 1, len(actions)))  # the state after the step that hung
            out += [None] * (len(job["trajectories"]) - len(out))
            break
    return out


def main() -> None:
    import resource

    job = json.loads(sys.stdin.read())
    limit = job["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    module = types.ModuleType("mutant")
    try:
        # dont_inherit: this file's `from __future__ import annotations` must not leak in
        code = compile(job["source"], "<mutant>", "exec", dont_inherit=True)
        signal.setitimer(signal.ITIMER_REAL, job["trajectory_timeout_s"])
        exec(code, module.__dict__)  # noqa: S102 - a golden-derived mutant, in its own process
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # noqa: BLE001 - any import failure is the answer
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(json.dumps({"load_error": f"{type(exc).__name__}: {exc}"[:300]}))
        return
    print(json.dumps({"load_error": None, "first_diff": first_differences(module, job)}))


if __name__ == "__main__":
    main()
