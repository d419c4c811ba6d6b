"""Runs mutants of a golden on trajectories, each mutant in its own subprocess.

Why a subprocess: a mutant may loop forever (`<` -> `<=` in a loop bound) or allocate
without end, and must not take the trusted process with it. The child
(`_mutant_child.py`, standard library only) has a memory limit and a timer per trajectory;
here a wall-clock timeout covers the whole job. The golden is replayed here, in the trusted
process, and only digests of its records go to the child.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path

from gamecwm_jax.verify import _harness
from gamecwm_jax.verify._mutant_child import record_key

CHILD = Path(__file__).with_name("_mutant_child.py")


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """first_diff[j]: the first state index of trajectory j where the mutant's record
    differs from the golden's (None: no difference). load_error: the mutant does not even
    import (a *stillborn* mutant). error: the child died or ran out of wall-clock time."""

    first_diff: tuple[int | None, ...]
    load_error: str | None = None
    error: str | None = None

    @property
    def different(self) -> bool:
        return any(d is not None for d in self.first_diff)


def golden_keys(golden: types.ModuleType, trajectories: list[list[str]], n: int) -> list[list[str]]:
    """The golden's record digests along every trajectory (states 0..len(actions))."""
    out = []
    for actions in trajectories:
        trace = _harness.trace(golden, actions, n)
        if trace["error"]:
            raise ValueError(f"the golden rejects its own trajectory: {trace['error']}")
        out.append([record_key(rec) for rec in trace["states"]])
    return out


def probe_one(
    source: str,
    trajectories: list[list[str]],
    keys: list[list[str]],
    num_players: int,
    trajectory_timeout_s: float = 2.0,
    memory_mb: int = 2048,
    enough: int | None = None,
) -> ProbeResult:
    job = {
        "enough": enough,
        "source": source,
        "trajectories": trajectories,
        "golden_keys": keys,
        "num_players": num_players,
        "trajectory_timeout_s": trajectory_timeout_s,
        "memory_mb": memory_mb,
    }
    wall = 30.0 + trajectory_timeout_s * len(trajectories)
    nothing = tuple(None for _ in trajectories)
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-s", str(CHILD)],
            input=json.dumps(job),
            capture_output=True,
            check=False,
            text=True,
            timeout=wall,
            env={"PYTHONHASHSEED": "0"},
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(nothing, error=f"no answer within {wall:.0f} s")
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ProbeResult(nothing, error=f"child exited {done.returncode}: {done.stderr[-300:]}")
    if answer.get("load_error"):
        return ProbeResult(nothing, load_error=answer["load_error"])
    return ProbeResult(tuple(answer["first_diff"]))


def probe(
    sources: list[str],
    trajectories: list[list[str]],
    keys: list[list[str]],
    num_players: int,
    workers: int = 1,
    progress=None,
    enough: int | None = None,
) -> list[ProbeResult]:
    """probe_one for every source, `workers` subprocesses at a time, results in order;
    `enough`: stop each mutant after that many differing trajectories (None: run all)."""
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [
            pool.submit(probe_one, s, trajectories, keys, num_players, enough=enough)
            for s in sources
        ]
        out = []
        for f in futures:
            out.append(f.result())
            if progress is not None:
                progress.update(1)
        return out
