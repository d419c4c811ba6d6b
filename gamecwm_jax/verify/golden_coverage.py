"""Line and branch coverage of a golden along trajectories, with `sys.settrace`.

Why our own tracer rather than the `coverage` package: we need, per trajectory, the first
*step* at which each arc is executed, so a selected trajectory can be cut right after the
last thing it is kept for (the verifier replays every suite step for every candidate).

An arc is a pair (line before, line after) inside one function of golden.py, with
-firstlineno standing for function entry and exit, as `coverage.py` counts branches. A
trajectory is replayed exactly as the verifier replays it (`_harness.trace`: every state is
observed through every getter), so "covered" means covered by what the verifier runs.
"""

from __future__ import annotations

import ast
import sys
import types
from typing import Any

from gamecwm_jax.games.registry import REQUIRED_FUNCTIONS
from gamecwm_jax.verify import _harness
from gamecwm_jax.verify.ast_mutants import UNTRACED_FUNCTIONS

Arc = tuple[int, int]


def untraced_functions(source: str) -> set[str]:
    """Top-level functions a trace never calls: `UNTRACED_FUNCTIONS` and the helpers that
    only they use (such as the backtracking search behind a `resample_history`)."""
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    users: dict[str, set[str]] = {f: set() for f in functions}
    for user, node in [(None, n) for n in tree.body if not isinstance(n, ast.FunctionDef)] + [
        (name, n) for name, n in functions.items()
    ]:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in users and sub.id != user:
                users[sub.id].add(user or "<module>")
    for f in REQUIRED_FUNCTIONS:  # the harness calls the interface itself
        users.get(f, set()).add("<harness>")
    out = {f for f in UNTRACED_FUNCTIONS if f in functions}
    changed = True
    while changed:
        changed = False
        for f, used_by in users.items():
            if f not in out and used_by and used_by <= out:
                out.add(f)
                changed = True
    return out


def executable_lines(source: str) -> tuple[set[int], set[int]]:
    """(lines inside functions that a trace can run, lines of untraced functions).

    Module-level lines run once at import, not along a trajectory, so they are not counted.
    """
    module = compile(source, "<golden>", "exec", dont_inherit=True)
    untraced_names = untraced_functions(source)
    traced: set[int] = set()
    untraced: set[int] = set()

    def visit(code: types.CodeType, skip: bool) -> None:
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                inner_skip = skip or (code is module and const.co_name in untraced_names)
                lines = {line for _, _, line in const.co_lines() if line is not None}
                lines.discard(const.co_firstlineno)  # the def line itself runs at import
                (untraced if inner_skip else traced).update(lines)
                visit(const, inner_skip)

    visit(module, False)
    return traced - untraced, untraced


def import_time_lines(source: str) -> set[int]:
    """Lines inside functions that run while the module is imported (helpers that build
    tables, such as a neighbour list): no trajectory runs them again, but they are not dead."""
    filename = "<golden-import>"
    hit: set[int] = set()

    def tracer(frame: types.FrameType, event: str, arg: Any):
        if frame.f_code.co_filename != filename or frame.f_code.co_name == "<module>":
            return None

        def local(frame: types.FrameType, event: str, arg: Any):
            if event == "line":
                hit.add(frame.f_lineno)
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        load_traced(source, filename)
    finally:
        sys.settrace(previous)
    return hit


def coverage_summary(source: str, reached: set[Arc]) -> dict[str, Any]:
    """What `reached` (the arcs that random play ran) covers of golden.py, as stored in a
    suite file: unreached lines are the ones no game ran, import-time helpers aside."""
    lines, untraced = executable_lines(source)
    covered = lines_of(reached) & lines
    at_import = (lines - covered) & import_time_lines(source)
    return {
        "lines": len(lines),
        "lines_covered": len(covered),
        "import_only_lines": sorted(at_import),
        "unreached_lines": sorted(lines - covered - at_import),
        "untraced_function_lines": len(untraced),
        "arcs_reached": len(reached),
    }


def load_traced(source: str, filename: str) -> types.ModuleType:
    """The golden as a module whose code objects carry `filename` (the tracer's filter)."""
    module = types.ModuleType("golden_traced")
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - trusted golden
    return module


def arcs_by_step(
    module: types.ModuleType, filename: str, actions: list[str], num_players: int
) -> dict[Arc, int]:
    """Every arc of `filename` executed while the verifier's trace replays `actions`,
    mapped to the prefix length (number of actions) it first needs."""
    first: dict[Arc, int] = {}
    step = [0]

    def global_tracer(frame: types.FrameType, event: str, arg: Any):
        if event != "call" or frame.f_code.co_filename != filename:
            return None
        entry = -frame.f_code.co_firstlineno
        last = [entry]

        def local(frame: types.FrameType, event: str, arg: Any):
            if event == "line":
                arc = (last[0], frame.f_lineno)
                last[0] = frame.f_lineno
            elif event == "return":
                arc = (last[0], entry)
            else:
                return local
            if arc not in first:
                first[arc] = step[0]
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(global_tracer)
    try:
        state = module.get_initial_state()
        _harness.observe(module, state, num_players)
        for t, action in enumerate(actions):
            step[0] = t + 1
            state = module.apply_action(state, action)
            _harness.observe(module, state, num_players)
    finally:
        sys.settrace(previous)
    return first


def lines_of(arcs) -> set[int]:
    return {b for _, b in arcs if b > 0} | {a for a, _ in arcs if a > 0}
