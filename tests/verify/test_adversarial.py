"""Hostile candidates are contained: they cost only their own score.

Each attack runs through the real sandbox. It must score 0 (or the partial credit it
earned), leave the verifier serving, write nothing outside its scratch directory and
leave the machine as it was (no stray processes, sentinel files intact).
"""

import os
import time
import uuid
from pathlib import Path

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import RewardConfig

REPO = Path(__file__).resolve().parents[2]
GOLDEN = get_game("tic_tac_toe").golden_source
GOLDEN_PATH = get_game("tic_tac_toe").golden_path
TAG = uuid.uuid4().hex[:12]
OUTSIDE = f"/tmp/gamecwm_adv_{TAG}"  # no attack may create this (or anything with TAG)
IN_REPO = REPO / f"adv_{TAG}.txt"
SENTINEL = Path(f"/tmp/gamecwm_adv_sentinel_{TAG}")
LIMITS = RewardConfig.fast(timeout_s=4.0, query_timeout_s=1.0)


def golden_with(extra: str) -> str:
    return GOLDEN + "\n\n" + extra + "\n"


def hang_after_five_moves(body: str) -> str:
    """The golden, except that get_legal_actions misbehaves once 5 marks are down."""
    return GOLDEN.replace(
        "    player = get_current_player(state)\n    if player == TERMINAL:\n        return []\n",
        "    player = get_current_player(state)\n"
        "    if sum(c != '.' for row in state['board'] for c in row) >= 5:\n"
        f"        {body}\n"
        "    if player == TERMINAL:\n        return []\n",
        1,
    )


# Loads a C extension module through the extension loader, bypassing the import
# statement (the route an attacker takes once `import socket` is refused).
LOAD_EXTENSION = (
    "import _imp, os, sys\n"
    "class Spec:\n    pass\n"
    "def load(name):\n"
    "    spec = Spec()\n"
    "    spec.name = name\n"
    "    lib = 'python%d.%d' % sys.version_info[:2]\n"
    "    folder = os.path.join(sys.base_exec_prefix, 'lib', lib, 'lib-dynload')\n"
    "    spec.origin = os.path.join(folder, name + _imp.extension_suffixes()[0])\n"
    "    return _imp.create_dynamic(spec)\n"
)

ATTACKS = {
    # name: (code, expected score: "zero" | "partial" | "full"). Attacks that do not carry
    # the golden themselves run at module level after a complete, correct golden (so a
    # contained attack must cost everything).
    "infinite_loop": ("while True:\n    pass\n", "zero"),
    "loop_swallowing_timeouts": (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass\n",
        "zero",
    ),
    "hang_mid_game": (hang_after_five_moves("while True: pass"), "partial"),
    "memory_bomb": ("x = bytearray(10 ** 11)\n", "zero"),
    "memory_growth": ("chunks = []\nwhile True:\n    chunks.append(' ' * 10 ** 7)\n", "zero"),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", "zero"),
    "fork_bomb_swallowed": (
        golden_with(
            "import os\nfor _ in range(50):\n    try:\n        os.fork()\n    except Exception:\n"
            "        pass\n"
        ),
        "full",  # every fork refused (and swallowed): what is left is the golden
    ),
    "threads": (
        "import threading\nfor _ in range(100):\n"
        "    threading.Thread(target=lambda: None).start()\n",
        "zero",
    ),
    "deep_recursion": ("def f(n):\n    return f(n + 1)\nf(0)\n", "zero"),
    "deep_recursion_raised_limit": (
        "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n",
        "zero",
    ),
    "os_system": (f"import os\nos.system('touch {OUTSIDE}')\n", "zero"),
    "subprocess": (f"import subprocess\nsubprocess.run(['touch', '{OUTSIDE}'])\n", "zero"),
    # The C module behind subprocess, loaded by the extension loader (no import statement).
    "subprocess_extension": (
        LOAD_EXTENSION + f"load('_posixsubprocess').fork_exec(['touch', '{OUTSIDE}'])\n",
        "zero",
    ),
    # The operation itself, as the library would announce it.
    "subprocess_event": (
        f"import sys\nsys.audit('subprocess.Popen', 'touch', ['touch', '{OUTSIDE}'], None, None)\n",
        "zero",
    ),
    "posix_spawn": (
        f"import os\nos.posix_spawn('/usr/bin/touch', ['touch', '{OUTSIDE}'], {{}})\n",
        "zero",
    ),
    "exec_replaces_process": (
        "import os\nos.execv('/bin/sh', ['sh', '-c', 'sleep 100'])\n",
        "zero",
    ),
    "delete_files": (
        f"import os\nos.remove('{SENTINEL}')\nos.rmdir('{REPO / 'games'}')\n",
        "zero",
    ),
    "write_outside": (f"open('{OUTSIDE}', 'w').write('x')\n", "zero"),
    "write_into_repo": (f"open('{IN_REPO}', 'w').write('x')\n", "zero"),
    "symlink_escape": (
        f"import os\nos.symlink('{GOLDEN_PATH}', 'g.py')\nprint(open('g.py').read())\n",
        "zero",
    ),
    "socket": (
        "import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=1)\n",
        "zero",
    ),
    "socket_extension": (
        LOAD_EXTENSION + "load('_socket').socket().connect(('127.0.0.1', 22))\n",
        "zero",
    ),
    "socket_event": (
        "import sys\nsys.audit('socket.connect', None, ('127.0.0.1', 22))\n",
        "zero",
    ),
    "socket_via_module_cache": (
        "import sys\nsock = sys.modules.get('socket')\nsock.socket()\n",
        "zero",
    ),
    "ctypes": ("import ctypes\nctypes.CDLL(None).system(b'true')\n", "zero"),
    "ctypes_extension": (LOAD_EXTENSION + "load('_ctypes').dlopen(None)\n", "zero"),
    "read_golden": (f"exec(open('{GOLDEN_PATH}').read())\n", "zero"),
    "read_golden_relative": (
        "import os\nexec(open(os.path.join('/work/main', 'games/tic_tac_toe/golden.py')).read())\n",
        "zero",
    ),
    "import_the_package": (
        "from gamecwm_jax.games import get_game\nexec(get_game('tic_tac_toe').golden_source)\n",
        "zero",
    ),
    "list_the_dataset": (f"import os\nprint(os.listdir('{REPO / 'games'}'))\n", "zero"),
    "huge_output": ("import sys\nfor _ in range(10 ** 9):\n    print('x' * 10 ** 6)\n", "zero"),
    "huge_output_raw_fd": ("import os\nwhile True:\n    os.write(1, b'x' * 10 ** 6)\n", "zero"),
    "sys_exit": ("import sys\nsys.exit(0)\n", "zero"),
    "os_exit": ("import os\nos._exit(0)\n", "zero"),
    "exit_mid_game": (hang_after_five_moves("import os; os._exit(0)"), "partial"),
    "sys_exit_mid_game": (hang_after_five_moves("raise SystemExit(0)"), "partial"),
    "kill_the_parent": ("import os\nos.kill(os.getppid(), 9)\n", "zero"),
    "import_missing": ("import numpy\n", "zero"),
    "monkeypatch_builtins": (
        golden_with(
            "import builtins\nbuiltins.len = lambda x: 0\nbuiltins.isinstance = lambda a, b: True\n"
        ),
        "zero",  # it breaks its own process (its answers cannot even be sent), no one else's
    ),
    "raise_from_del": (
        golden_with(
            "class Bomb:\n    def __del__(self):\n        raise RuntimeError('boom')\n"
            "_bombs = [Bomb() for _ in range(10)]\n"
            "_orig = apply_action\n"
            "def apply_action(state, action):\n    Bomb()\n    return _orig(state, action)\n"
        ),
        "full",  # Python ignores exceptions raised in __del__: a correct program
    ),
    "leak_environment": (
        "import os\nraise RuntimeError('ENV=' + repr(dict(os.environ)))\n",
        "zero",
    ),
    "garbage_on_result_pipe": (
        "import os\nfor fd in range(3, 20):\n    try:\n"
        "        os.write(fd, b'\\xff' * 100)\n    except OSError:\n"
        "        pass\n" + GOLDEN,
        "zero",  # a garbled answer channel is a failure, never mistaken for an answer
    ),
}


def _children_of(pids: set[int]) -> list[int]:
    """Live processes whose parent is in `pids` (the sandboxed children of the zygotes)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid")))
        if ppid in pids:
            out.append(int(entry))
    return out


@pytest.fixture(scope="module")
def attacked(verifier):
    SENTINEL.write_text("keep me")
    zygotes = {z.proc.pid for z in verifier.pool._all}
    start = time.monotonic()
    names = list(ATTACKS)
    codes = [
        GOLDEN + "\n\n" + code if expected == "zero" and GOLDEN not in code else code
        for code, expected in map(ATTACKS.get, names)
    ]
    reports = verifier.verify_batch([(code, "tic_tac_toe") for code in codes], config=LIMITS)
    elapsed = time.monotonic() - start
    time.sleep(0.2)
    leftovers = _children_of(zygotes | {z.proc.pid for z in verifier.pool._all})
    yield dict(zip(names, reports)), elapsed, leftovers
    SENTINEL.unlink(missing_ok=True)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(attacked, name):
    reports, *_ = attacked
    report = reports[name]
    expected = ATTACKS[name][1]
    if expected == "zero":
        assert report.score == 0.0, (report.score, report.failure)
    elif expected == "partial":
        assert 0.0 < report.score < 1.0, (report.score, report.failure)
    else:
        assert report.score == 1.0, (report.score, report.failure)
    assert report.failure is not None or report.score == 1.0


# What the sandbox refused first, for the attacks it stops by refusing something: the very
# operation each is named after (or, where the operation needs a module, the module).
REFUSED = {
    "fork_bomb": "os.fork",
    "fork_bomb_swallowed": "os.fork",
    "os_system": "os.system",
    "subprocess": "import subprocess",
    "subprocess_extension": "import _posixsubprocess",
    "subprocess_event": "subprocess.Popen",
    "posix_spawn": "os.posix_spawn",
    "exec_replaces_process": "os.exec",
    "delete_files": "os.remove '/tmp/gamecwm_adv_sentinel_",
    "write_outside": f"open '{OUTSIDE}'",
    "write_into_repo": f"open '{IN_REPO}'",
    "symlink_escape": "os.symlink",
    "socket": "import socket",
    "socket_extension": "import _socket",
    "socket_event": "socket.connect",
    "ctypes": "import ctypes",
    # _ctypes is loaded in the warm worker already, so the loader hands it out and the
    # call itself is refused; in a worker without it, its load is.
    "ctypes_extension": ("ctypes.dlopen", "import _ctypes"),
    "read_golden": f"open '{GOLDEN_PATH}'",
    "read_golden_relative": "open '/work/main/games/tic_tac_toe/golden.py'",
    "import_the_package": "import gamecwm_jax",
    "list_the_dataset": "os.listdir",
    "kill_the_parent": "os.kill",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_attack_is_refused_at_its_operation(attacked, name):
    reports, *_ = attacked
    violations = reports[name].details["sandbox"].get("violations") or []
    assert violations and violations[0].startswith(REFUSED[name]), violations


def test_nothing_escaped(attacked):
    reports, elapsed, leftovers = attacked
    assert SENTINEL.read_text() == "keep me"
    assert not Path(OUTSIDE).exists() and not IN_REPO.exists()
    assert (REPO / "games" / "tic_tac_toe" / "golden.py").exists()
    assert not [p for p in Path("/tmp").iterdir() if TAG in p.name and p != SENTINEL]
    assert not leftovers, f"processes left behind: {leftovers}"
    # hung candidates are stopped by the per-candidate wall clock, in parallel
    assert elapsed < 2 * LIMITS.timeout_s * len(ATTACKS) / 2 + 10


def test_the_environment_is_scrubbed(attacked):
    reports, *_ = attacked
    message = reports["leak_environment"].failure.message
    assert "ENV=" in message
    assert "/root" not in message and "PYTHONHASHSEED" not in message


def test_reasons_are_reported(attacked):
    reports, *_ = attacked
    assert "sandbox" in reports["os_system"].failure.message
    assert "numpy" in reports["import_missing"].failure.message
    assert reports["infinite_loop"].details["sandbox"]["stopped"] == "query timeout"
    assert reports["os_system"].details["sandbox"]["violations"] == ["os.system"]


def test_scratch_directories_are_removed(attacked, verifier):
    assert os.listdir(verifier.pool.scratch_base) == []


def test_verifier_still_serves_after_the_attacks(attacked, verifier):
    report = verifier.verify(GOLDEN, "tic_tac_toe")
    assert report.score == 1.0


def test_forged_frames_cannot_crash_the_scorer(verifier):
    """A candidate writing well-framed but malformed answers on every fd scores 0."""
    forge = (
        "import os, json, struct\n"
        "def frame(obj):\n"
        "    data = json.dumps(obj).encode()\n"
        "    return struct.pack('>I', len(data)) + data\n"
        "junk = frame({'ok': True, 'probe': {'funcs': 7, 'rec': [1]}}) + frame([1, 2])"
        " + frame({'steps': [5, 'x', None]}) + frame({'done': True})\n"
        "for fd in range(3, 20):\n"
        "    try:\n"
        "        os.write(fd, junk)\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    )
    report = verifier.verify(GOLDEN + "\n" + forge, "tic_tac_toe")
    assert report.score < 0.2
