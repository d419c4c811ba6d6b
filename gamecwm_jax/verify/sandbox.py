"""The trusted side of the sandbox: a pool of warm zygote processes.

Each zygote (`_worker.py` run as a script, standard library only, no site-packages) forks
one locked-down child per candidate (see `_worker._lock_down`): its own process group,
rlimits on CPU time, address space, file size, open files and processes (0: it cannot
fork), no core dumps, a fresh scratch directory as its working directory, an empty
environment, uid `nobody` when we run as root, an empty network namespace when the kernel
allows it, and an audit hook refusing sockets, subprocesses, exec/fork, ctypes, and any
file access outside the scratch directory. The zygote enforces the wall-clock deadline and
kills the child; the parent only ever sees plain JSON frames.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gamecwm_jax.verify import _worker

WORKER_SCRIPT = Path(_worker.__file__).resolve()
REPO_ROOT = WORKER_SCRIPT.parents[2]


@dataclasses.dataclass
class SandboxResult:
    frames: list[Any]  # one JSON value per frame the child wrote, in order
    stopped: str  # "eof" (the child finished or died), "timeout", "too much output", ...
    wall_s: float
    exit: int | None  # exit code, or -signal

    @property
    def end(self) -> dict[str, Any] | None:
        """The harness's closing frame (it says done, timeout or crash), or None when the
        child stopped before writing one; every frame before it is a report."""
        last = self.frames[-1] if self.frames else None
        if isinstance(last, dict) and {"done", "timeout", "crash"} & last.keys():
            return last
        return None

    @property
    def finished(self) -> bool:
        return (
            bool(self.frames)
            and isinstance(self.frames[-1], dict)
            and bool(self.frames[-1].get("done"))
        )


class _Zygote:
    def __init__(self, scratch_base: str):
        env = {
            "PYTHONHASHSEED": "0",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-s", "-B", str(WORKER_SCRIPT), str(REPO_ROOT), scratch_base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        hello = self._read(timeout=60.0)
        hello = hello[0] if hello else None
        if not hello or not hello.get("ready"):
            self.kill()
            raise RuntimeError("verifier worker failed to start")
        self.netns = bool(hello.get("netns"))

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read(self, timeout: float):
        """The zygote's next message: (header, body bytes), or None on timeout / EOF."""
        deadline = time.monotonic() + timeout
        size = self._read_exact(8, deadline)
        header = size and self._read_exact(int.from_bytes(size, "big"), deadline)
        if not header:
            return None
        header = json.loads(header)
        body = (
            self._read_exact(header.get("body_len", 0), deadline) if header.get("body_len") else b""
        )
        return None if body is None else (header, body)

    def run(self, job: dict, timeout: float):
        _worker.write_message(self.proc.stdin.fileno(), job)
        return self._read(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self):
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class SandboxPool:
    """`num_workers` warm zygotes; `run(job)` is thread-safe, `map(jobs)` runs in parallel."""

    def __init__(self, num_workers: int | None = None):
        self.num_workers = num_workers or os.cpu_count() or 1
        self._scratch_base = tempfile.mkdtemp(prefix="gamecwm_verify_")
        os.chmod(self._scratch_base, 0o711)  # `nobody` may enter its own scratch dir only
        self._idle: queue.Queue[_Zygote] = queue.Queue()
        self._all: list[_Zygote] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(self.num_workers):
            self._add()
        self._executor = concurrent.futures.ThreadPoolExecutor(self.num_workers)

    @property
    def scratch_base(self) -> str:
        return self._scratch_base

    @property
    def netns(self) -> bool:
        return all(z.netns for z in self._all)

    def _add(self) -> None:
        zygote = _Zygote(self._scratch_base)
        with self._lock:
            self._all.append(zygote)
        self._idle.put(zygote)

    def run(self, job: dict) -> SandboxResult:
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")
        zygote = self._idle.get()
        grace = float(job["limits"]["wall_s"]) + 10.0
        reply = None
        try:
            reply = zygote.run(job, timeout=grace)
        except OSError:
            reply = None
        if reply is None or not zygote.alive():
            zygote.kill()  # a stuck or dead zygote is replaced; the candidate fails
            with self._lock:
                self._all.remove(zygote)
            if not self._closed:
                self._add()
            if reply is None:
                return SandboxResult([], "worker lost", grace, None)
        else:
            self._idle.put(zygote)
        header, body = reply
        return SandboxResult(
            _worker.split_frames(body), header["stopped"], header["wall_s"], header["exit"]
        )

    def submit(self, job: dict) -> concurrent.futures.Future:
        """Runs `job` on the next free zygote; the future's result is a SandboxResult."""
        return self._executor.submit(self.run, job)

    def map(self, jobs: list[dict]) -> list[SandboxResult]:
        return list(self._executor.map(self.run, jobs))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        for zygote in list(self._all):
            try:
                zygote.proc.stdin.close()
            except OSError:
                pass
            zygote.kill()
        shutil.rmtree(self._scratch_base, ignore_errors=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
