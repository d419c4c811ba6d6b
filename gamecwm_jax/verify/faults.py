"""Fault injectors: the mistakes real models make, applied to any golden as source transforms.

The reward's calibration benchmark (`python -m gamecwm_jax.bench.reward`) builds, per game,
ladders of candidates with k = 0..5 of these faults and checks that the reward falls with
k. Every injector works on any module implementing games/API.md, through the AST, never
through game-specific text:

* wrappers (`shallow_copy`, `random_transition`, `notation`, `reward_values`,
  `raising_getter`, `leaky_observation`, `broken_resample`) rename an interface function
  everywhere in the module (its definition and every internal call) and add a new public
  function of that name around it; internal calls keep the old behaviour, only callers
  from outside see the fault, and faults compose (a later wrapper wraps an earlier one);
* edits (`no_end_test`, `board_size`) change the golden's own code: drop one condition of
  the terminal test, or add 1 to the board's size constant (subtract 1 where the larger
  board does not play, see `board_delta`).

An injector returns None where it does not apply (no board, no terminal test it can find,
a perfect-information game for the information faults); whether an applied fault changes
the game's behaviour at all is for the caller to measure.
"""

from __future__ import annotations

import ast
import collections
import copy
import functools
import random
import re
import signal
import threading
from collections.abc import Callable

from gamecwm_jax.games.registry import Game

# A wrapper template: INNER_<name> is the renamed original of each wrapped function, and
# FAULT a prefix unique to this injection (for its module-level helpers).
_WRAPPERS: dict[str, tuple[tuple[str, ...], str]] = {
    # apply_action writes the next state into its input (what a shallow copy that then
    # mutates nested lists does) and returns it
    "shallow_copy": (
        ("apply_action",),
        """
def apply_action(state, action):
    nxt = INNER_apply_action(state, action)
    if isinstance(state, dict) and isinstance(nxt, dict) and nxt is not state:
        state.clear()
        state.update(nxt)
        return state
    return nxt
""",
    ),
    # a transition that sometimes makes one more random move (e.g. a shuffle or a roll
    # done inside apply_action instead of an explicit chance node)
    "random_transition": (
        ("apply_action",),
        """
def apply_action(state, action):
    import random as FAULT_random
    nxt = INNER_apply_action(state, action)
    if FAULT_random.random() < 0.25:
        legal = get_legal_actions(nxt)
        if legal:
            nxt = INNER_apply_action(nxt, FAULT_random.choice(sorted(legal)))
    return nxt
""",
    ),
    # a third of the action strings in another notation (case changed, or bracketed);
    # apply_action refuses the specified spelling of those
    "notation": (
        ("get_legal_actions", "get_chance_outcomes", "apply_action", "resample_history"),
        """
FAULT_names = {}


def FAULT_encode(action):
    import zlib as FAULT_zlib
    if not isinstance(action, str) or FAULT_zlib.crc32(action.encode()) % 3:
        return action
    if action.upper() != action:
        new = action.upper()
    elif action.lower() != action:
        new = action.lower()
    else:
        new = "[" + action + "]"
    FAULT_names[new] = action
    return new


def FAULT_decode(action):
    if action in FAULT_names:
        return FAULT_names[action]
    if FAULT_encode(action) != action:
        raise ValueError(f"unknown action {action!r}")
    return action


def get_legal_actions(state):
    return [FAULT_encode(a) for a in INNER_get_legal_actions(state)]


def get_chance_outcomes(state):
    return [(FAULT_encode(a), p) for a, p in INNER_get_chance_outcomes(state)]


def apply_action(state, action):
    return INNER_apply_action(state, FAULT_decode(action))


def resample_history(obs_action_history, player_id):
    history = [
        dict(h, action=None if h.get("action") is None else FAULT_decode(h["action"]))
        for h in obs_action_history
    ]
    return [FAULT_encode(a) for a in INNER_resample_history(history, player_id)]
""",
    ),
    # losses scored 0 instead of negative
    "reward_values": (
        ("get_rewards",),
        """
def get_rewards(state):
    return [x if x > 0 else 0.0 for x in INNER_get_rewards(state)]
""",
    ),
    # get_rewards written for the end of the game only: it raises before
    "raising_getter": (
        ("get_rewards",),
        """
def get_rewards(state):
    if get_current_player(state) != -4:
        raise KeyError("winner")
    return INNER_get_rewards(state)
""",
    ),
    # every player's observation carries the whole state
    "leaky_observation": (
        ("get_observations",),
        """
def get_observations(state):
    import copy as FAULT_copy
    return [dict(o, state=FAULT_copy.deepcopy(state)) for o in INNER_get_observations(state)]
""",
    ),
    # returns only the player's own actions (no opponent moves, no chance outcomes)
    "broken_resample": (
        ("resample_history",),
        """
def resample_history(obs_action_history, player_id):
    return [h["action"] for h in obs_action_history if h.get("action") is not None]
""",
    ),
}
_IMPERFECT_ONLY = ("leaky_observation", "broken_resample")
_SIZE_NAME = re.compile(r"(^|_)(SIZE|ROWS|COLS|WIDTH|HEIGHT|DIM|N|BOARD)$")
_TERMINAL = (-4,)


def _defined(tree: ast.Module, name: str) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.names.get(node.name, node.name)
        self.generic_visit(node)
        return node


def _wrap(tree: ast.Module, kind: str, tag: str) -> ast.Module | None:
    names, template = _WRAPPERS[kind]
    present = [n for n in names if _defined(tree, n)]
    if not present:
        return None
    renames = {n: f"_{tag}_{n}" for n in present}
    tree = _Rename(renames).visit(tree)
    wrapper = ast.parse(template.replace("FAULT", f"_{tag}"))
    inner = {f"INNER_{n}": new for n, new in renames.items()}
    wrapper = _Rename(inner).visit(wrapper)
    body = [
        node
        for node in wrapper.body
        if not isinstance(node, ast.FunctionDef) or node.name in present or node.name[0] == "_"
    ]
    tree.body.extend(body)
    return tree


def _is_terminal_value(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "TERMINAL"
    try:
        return ast.literal_eval(node) in _TERMINAL  # type: ignore[arg-type]
    except (ValueError, TypeError, SyntaxError):
        return False


def _no_end_test(tree: ast.Module, tag: str) -> ast.Module | None:
    """Drops one condition of the terminal test in get_current_player: the first operand
    of an `or`, or the whole test when it has one condition."""
    fn = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_current_player"),
        None,
    )
    if fn is None:
        return None
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and any(
            isinstance(s, ast.Return) and _is_terminal_value(s.value) for s in node.body
        ):
            test = node.test
            if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
                test.values = test.values[1:]
                node.test = test.values[0] if len(test.values) == 1 else test
            else:
                node.test = ast.Constant(False)
            return tree
        if isinstance(node, ast.IfExp) and _is_terminal_value(node.body):
            node.test = ast.Constant(False)
            return tree
    return None


def _board_size(tree: ast.Module, tag: str, delta: int = 1) -> ast.Module | None:
    """Adds `delta` to the board's size: a module-level constant named like a size (SIZE,
    ROWS, COLS, WIDTH, ...), else the most common literal `range(K)` bound (K >= 3)."""
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = []
        if isinstance(target, ast.Name):
            pairs = [(target, value)]
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            pairs = list(zip(target.elts, value.elts))
        for name, val in pairs:
            if (
                isinstance(name, ast.Name)
                and _SIZE_NAME.search(name.id)
                and isinstance(val, ast.Constant)
                and type(val.value) is int
                and val.value + delta >= 2
            ):
                val.value += delta
                return tree
    bounds = collections.Counter(
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "range"
        and len(n.args) == 1
        and isinstance(n.args[0], ast.Constant)
        and type(n.args[0].value) is int
        and n.args[0].value >= 3
    )
    if not bounds or bounds.most_common(1)[0][1] < 2:
        return None
    k = bounds.most_common(1)[0][0]
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "range"
            and len(n.args) == 1
            and isinstance(n.args[0], ast.Constant)
            and n.args[0].value == k
        ):
            n.args[0].value = k + delta
    return tree


def _plays(tree: ast.Module, games: int = 3, steps: int = 300, seconds: float = 5.0) -> bool:
    """Whether the module plays: seeded random games from its initial state (chance
    actions drawn like any other) run without an exception for `steps` actions or to
    the end. Runs in this process, so only for goldens with our own edits (trusted code),
    under a wall-clock alarm where signals are available."""
    code = compile(
        ast.fix_missing_locations(copy.deepcopy(tree)), "<fault>", "exec", dont_inherit=True
    )
    # our own alarm only where no one else's is armed (it would be cancelled)
    timer = (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )

    def expire(signum, frame):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire) if timer else None
    if timer:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        module: dict = {}
        exec(code, module)  # noqa: S102
        for seed in range(games):
            rng = random.Random(seed)
            state = module["get_initial_state"]()
            for _ in range(steps):
                if module["get_current_player"](state) in _TERMINAL:
                    break
                module["get_observations"](state)
                legal = module["get_legal_actions"](state)
                if not legal:
                    return False
                state = module["apply_action"](state, rng.choice(sorted(legal)))
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not play"
        return False
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@functools.lru_cache(maxsize=64)
def board_delta(source: str) -> int | None:
    """How the `board_size` fault changes this golden's board: +1, or -1 where a board one
    larger does not play (None: neither does). A wrong board size is a game played on a
    board of another size, not a module that crashes because one constant no longer
    matches the rest: a golden that spells out its files "abcde" beside SIZE = 5 raises on
    its initial state at SIZE = 6, which would be a crash, not this fault. Decided on the
    golden alone, so the fault is the same edit whatever other faults it joins."""
    for delta in (1, -1):
        edited = _board_size(ast.parse(source), "size", delta)
        if edited is not None and _plays(edited):
            return delta
    return None


def _golden_board_size(tree: ast.Module, tag: str, source: str) -> ast.Module | None:
    delta = board_delta(source)
    return None if delta is None else _board_size(tree, tag, delta)


# An edit gets the tree so far, its tag and the golden's source (for what it decides on the
# golden alone).
_EDITS: dict[str, Callable[[ast.Module, str, str], ast.Module | None]] = {
    "no_end_test": lambda tree, tag, source: _no_end_test(tree, tag),
    "board_size": _golden_board_size,
}
FAULTS: tuple[str, ...] = (
    "shallow_copy",
    "random_transition",
    "notation",
    "no_end_test",
    "reward_values",
    "raising_getter",
    "board_size",
    "leaky_observation",
    "broken_resample",
)


def inject(source: str, faults: list[str], game: Game) -> str | None:
    """The source with `faults` applied in order, or None if one of them does not apply."""
    tree = ast.parse(source)
    for i, kind in enumerate(faults):
        if kind in _IMPERFECT_ONLY and not game.imperfect:
            return None
        tag = f"fault{i}"
        result = _EDITS[kind](tree, tag, source) if kind in _EDITS else _wrap(tree, kind, tag)
        if result is None:
            return None
        tree = result
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def applicable(source: str, game: Game) -> list[str]:
    """The faults that apply to this source (each alone)."""
    return [kind for kind in FAULTS if inject(source, [kind], game) is not None]


def chains(kinds: list[str], count: int, length: int, rng: random.Random) -> list[list[str]]:
    """`count` orders of up to `length` distinct faults from `kinds`, drawn by `rng`: the
    candidate with k faults of a chain is its first k, so each rung adds one fault."""
    out = []
    for _ in range(count):
        order = list(kinds)
        rng.shuffle(order)
        out.append(order[:length])
    return out
