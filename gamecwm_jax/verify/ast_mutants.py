"""A seeded, automatic generator of single-point AST mutants of a golden.

Why: the verifier is the reward RL optimises, so it must notice a program that gets one
rule wrong. Hand-written mutants (`games/<game>/mutants.json`) test the rules someone thought
of; this generator makes mutants mechanically, so coverage suites can be selected against
one pool and measured on a fresh one made with another seed.

Every *site* is one operator applied at one node of the golden's AST:

* ``cmp``   a comparison operator replaced by another of its family
            (``< <= > >= == !=``, ``in / not in``, ``is / is not``);
* ``bool``  ``and`` <-> ``or``;   ``not``  a ``not`` removed;
* ``int``   an integer constant +1 or -1;   ``const`` ``True`` <-> ``False``;
* ``arith`` ``+ <-> -``, ``* -> +``, ``// -> *``, ``% -> //`` (also in ``x op= y``);
* ``stmt``  a statement replaced by ``pass``;
* ``args``  two neighbouring positional arguments of a call swapped.

Sites are enumerated in a fixed order (AST walk order), shuffled with
``random.Random(f"mutate:{seed}")`` and turned into mutants until the pool is full;
mutants whose source equals the golden's or another mutant's are skipped. Functions
the semantic traces never call (`get_player_name`, `resample_history`) are not mutated, nor
docstrings, type annotations, f-strings or ``__future__`` imports.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from collections.abc import Iterator

# Functions a golden-driven trace never calls: their mutants cannot differ on a trajectory.
UNTRACED_FUNCTIONS = ("get_player_name", "resample_history")

_CMP_FAMILIES: tuple[tuple[type[ast.cmpop], ...], ...] = (
    (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq),
    (ast.In, ast.NotIn),
    (ast.Is, ast.IsNot),
)
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
_SYMBOL = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}


@dataclasses.dataclass(frozen=True)
class Site:
    """One mutation: `kind` applied to the node at `index` in `ast.walk` order."""

    index: int
    kind: str
    arg: object  # what the operator needs: a new op class, a delta, a list position
    line: int
    col: int

    @property
    def id(self) -> str:
        def name(x: object) -> str:
            if isinstance(x, type):
                return x.__name__
            if isinstance(x, tuple):
                return ".".join(name(y) for y in x)
            return str(x)

        return f"{self.kind}@{self.line}:{self.col}:{name(self.arg)}"


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    kind: str
    line: int
    description: str
    source: str


def _skipped_subtrees(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: untraced functions, annotations, docstrings, f-strings."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in UNTRACED_FUNCTIONS:
                mark(node)
            mark(node.returns)
            for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ):
            mark(node)
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            mark(body[0])  # docstring
    return skip


def _removable(stmt: ast.stmt) -> bool:
    return not isinstance(
        stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    ) and not (isinstance(stmt, ast.Pass))


def _sites_of(index: int, node: ast.AST) -> Iterator[Site]:
    line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
    if isinstance(node, ast.Compare):
        for pos, op in enumerate(node.ops):
            family = next(f for f in _CMP_FAMILIES if type(op) in f)
            for other in family:
                if other is not type(op):
                    yield Site(index, "cmp", (pos, other), line, col)
    elif isinstance(node, ast.BoolOp):
        yield Site(index, "bool", ast.Or if isinstance(node.op, ast.And) else ast.And, line, col)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield Site(index, "not", None, line, col)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield Site(index, "int", 1, line, col)
        yield Site(index, "int", -1, line, col)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield Site(index, "const", not node.value, line, col)
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _ARITH:
        yield Site(index, "arith", _ARITH[type(node.op)], line, col)
    elif isinstance(node, ast.Call):
        args = node.args
        for pos in range(len(args) - 1):
            if isinstance(args[pos], ast.Starred) or isinstance(args[pos + 1], ast.Starred):
                continue
            if ast.dump(args[pos]) != ast.dump(args[pos + 1]):
                yield Site(index, "args", pos, line, col)
    for field in ("body", "orelse", "finalbody"):
        stmts = getattr(node, field, None)
        if isinstance(stmts, list):
            for pos, stmt in enumerate(stmts):
                if isinstance(stmt, ast.stmt) and _removable(stmt):
                    yield Site(index, "stmt", (field, pos), stmt.lineno, stmt.col_offset)


def enumerate_sites(source: str) -> list[Site]:
    """Every mutation site of `source`, in a fixed order (AST walk order)."""
    tree = ast.parse(source)
    skip = _skipped_subtrees(tree)
    sites: list[Site] = []
    for index, node in enumerate(ast.walk(tree)):
        for site in _sites_of(index, node):
            if site.kind == "stmt":
                field, pos = site.arg  # type: ignore[misc]
                if id(getattr(node, field)[pos]) in skip:
                    continue
            elif id(node) in skip:
                continue
            sites.append(site)
    return sites


def _short(node: ast.AST, limit: int = 70) -> str:
    text = ast.unparse(node).split("\n")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def apply_site(source: str, site: Site) -> tuple[str, str]:
    """(mutant source, a one-line description); the source is re-printed by ast.unparse."""
    tree = ast.parse(source)
    node = list(ast.walk(tree))[site.index]
    before = _short(node)
    if site.kind == "cmp":
        pos, op = site.arg  # type: ignore[misc]
        old = type(node.ops[pos])
        node.ops[pos] = op()
        what = f"`{_SYMBOL[old]}` -> `{_SYMBOL[op]}` in `{before}`"
    elif site.kind == "bool":
        old, new = ("and", "or") if site.arg is ast.Or else ("or", "and")
        what = f"`{old}` -> `{new}` in `{before}`"
        node.op = site.arg()  # type: ignore[operator]
    elif site.kind == "not":
        what = f"`not` removed in `{before}`"
        _replace(tree, node, node.operand)
    elif site.kind == "int":
        what = f"{node.value} -> {node.value + site.arg}"  # type: ignore[operator]
        node.value += site.arg  # type: ignore[operator]
    elif site.kind == "const":
        what = f"{node.value} -> {site.arg}"
        node.value = site.arg
    elif site.kind == "arith":
        what = f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[site.arg]}` in `{before}`"  # type: ignore[index]
        node.op = site.arg()  # type: ignore[operator]
    elif site.kind == "args":
        pos = site.arg
        node.args[pos], node.args[pos + 1] = node.args[pos + 1], node.args[pos]  # type: ignore[index,operator]
        what = f"arguments {pos} and {pos + 1} swapped in `{before}`"  # type: ignore[operator]
    elif site.kind == "stmt":
        field, pos = site.arg  # type: ignore[misc]
        stmts = getattr(node, field)
        what = f"removed `{_short(stmts[pos])}`"
        stmts[pos] = ast.copy_location(ast.Pass(), stmts[pos])
    else:  # pragma: no cover - sites only come from _sites_of
        raise ValueError(f"unknown mutation kind {site.kind!r}")
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n", f"line {site.line}: {what}"


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise ValueError("node not found")  # pragma: no cover


def generate(
    source: str, seed: int, count: int, exclude: frozenset[str] | set[str] = frozenset()
) -> list[Mutant]:
    """`count` distinct mutants of `source` (fewer if it has fewer sites), chosen by `seed`.

    Deterministic for (source, seed, count, exclude). `exclude` holds mutant ids that must
    not be drawn (a fresh pool excludes the pool the suite was selected against).
    """
    sites = enumerate_sites(source)
    random.Random(f"mutate:{seed}").shuffle(sites)
    golden = ast.unparse(ast.parse(source)) + "\n"
    seen = {golden}
    out: list[Mutant] = []
    for site in sites:
        if len(out) >= count:
            break
        if site.id in exclude:
            continue
        code, description = apply_site(source, site)
        if code in seen:
            continue
        try:
            compile(code, "<mutant>", "exec", dont_inherit=True)
        except SyntaxError:
            continue
        seen.add(code)
        out.append(Mutant(site.id, site.kind, site.line, description, code))
    return out
