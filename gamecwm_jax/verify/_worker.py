"""The sandbox: a zygote that forks one locked-down child per candidate.

Run as a script (`python -S -s _worker.py REPO_ROOT SCRATCH`), this file is a *zygote*: a
warm worker that has imported everything a candidate may need, reads jobs (candidate code +
a list of queries) as length-prefixed JSON on stdin, and for each job forks a child that
locks itself down (see `_lock_down`), runs the candidate and streams one result frame per
query back over a private pipe. The zygote enforces the wall-clock deadline, kills the
child, deletes its scratch directory and answers the parent on stdout. What the child asks
the candidate is the harness's business (`_harness.py`); this file only contains it.

Imported by the trusted side (`sandbox.py`), it provides the message framing
(`write_message`, `split_frames`). Only the standard library is used, so the zygote starts
in tens of milliseconds and never imports anything from site-packages.
"""

from __future__ import annotations

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
    from gamecwm_jax.verify import _harness
else:  # run as the zygote script: this folder is still sys.path[0] (zygote_main drops it)
    import _harness

NOBODY = 65534

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
        raise _harness.QueryTimeout()

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
            # dont_inherit: the candidate must not inherit this file's `from __future__ import
            # annotations` (a module that breaks on a plain import must break here too)
            code = compile(job["code"], "<candidate>", "exec", dont_inherit=True)
            exec(code, module.__dict__)  # noqa: S102
            loaded = {"ok": True}
        except _harness.QueryTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001
            loaded = {"ok": False, "error": _harness.describe(exc)}
        if loaded["ok"]:
            loaded["probe"] = _harness.static_probe(module, job["required"], n)
        setitimer(ITIMER_REAL, 0)
        _write_frame(out_fd, loaded)
        if loaded["ok"]:  # a missing function fails only the calls that need it
            for query in job["queries"]:
                random.seed(f"{job['seed']}:{query.get('seed', '')}")
                setitimer(ITIMER_REAL, query_s)
                result = _harness.run_query(module, query, n)
                setitimer(ITIMER_REAL, 0)
                _write_frame(out_fd, result)
        _write_frame(out_fd, {"done": True, "violations": violations})
    except _harness.QueryTimeout:
        setitimer(ITIMER_REAL, 0)
        _write_frame(out_fd, {"timeout": True, "violations": violations})
    except BaseException as exc:  # noqa: BLE001 - e.g. a broken frame
        _write_frame(out_fd, {"crash": _harness.describe(exc), "violations": violations})


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
                {"stopped": f"zygote error: {_harness.describe(exc)}", "wall_s": 0.0, "exit": None},
                b"",
            )
        write_message(out_fd, reply, body)


if __name__ == "__main__":
    zygote_main(sys.argv)
