"""The candidate as text: code extraction, parse diagnostics and stub detection.

All of it runs in the trusted process on the source only (nothing is executed here).
"""

from __future__ import annotations

import ast
import dataclasses
import io
import re
import tokenize
import warnings

from gamecwm_jax.games.prompts import extract_code

_MARKER = re.compile(
    r"\b(TODO|FIXME|XXX)\b|(?i:placeholder|implement (this|me|here)|your code here"
    r"|not implemented)"
)


@dataclasses.dataclass
class Source:
    code: str  # the extracted program ("" if none)
    tree: ast.Module | None
    problem: str | None  # why it cannot run: empty / no code / truncated / syntax error


def parse_completion(completion: str) -> Source:
    """Extracts the program from a completion (fenced or bare) and parses it."""
    if not completion or not completion.strip():
        return Source("", None, "empty completion")
    code = extract_code(completion)
    if not code.strip():
        return Source("", None, "no code in the completion")
    try:
        with warnings.catch_warnings():  # not the trainer's warnings to print
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(code)
    except SyntaxError as e:
        looks_like_code = bool(re.search(r"^\s*(def|import|from|class)\s", code, re.MULTILINE))
        if not looks_like_code:
            return Source(code, None, "no code in the completion (only prose)")
        truncated = (
            "was never closed" in str(e.msg)
            or "unexpected EOF" in str(e.msg)
            or (e.lineno is not None and e.lineno >= code.count("\n"))
        )
        what = "truncated code" if truncated else "syntax error"
        return Source(code, None, f"{what}: {e.msg} (line {e.lineno})")
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return Source(code, None, f"syntax error: {type(e).__name__}")
    if not any(
        isinstance(
            n,
            (
                ast.FunctionDef,
                ast.AsyncFunctionDef,
                ast.Assign,
                ast.Import,
                ast.ImportFrom,
                ast.ClassDef,
            ),
        )
        for n in tree.body
    ):
        return Source(code, tree, "no code in the completion (no definitions)")
    return Source(code, tree, None)


def _is_placeholder_return(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Return):
        return False
    value = node.value
    if value is None:
        return True
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def stubbed_functions(
    tree: ast.Module, required: tuple[str, ...], constant_ok: tuple[str, ...] = ()
) -> list[str]:
    """Required functions whose body is only a docstring plus pass / ... / raise
    NotImplementedError / a constant return (the latter allowed for `constant_ok`)."""
    stubs = []
    for node in tree.body:
        if (
            not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            or node.name not in required
        ):
            continue
        body = list(node.body)
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]
        if len(body) != 1:
            continue
        stmt = body[0]
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value is Ellipsis
        ):
            stubs.append(node.name)
        elif isinstance(stmt, ast.Raise) and "NotImplemented" in ast.unparse(stmt):
            stubs.append(node.name)
        elif _is_placeholder_return(stmt) and node.name not in constant_ok:
            stubs.append(node.name)
    return stubs


def has_markers(code: str) -> bool:
    """TODO / FIXME / placeholder markers in the program's comments and strings."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return bool(_MARKER.search(code))
    return any(
        tok.type in (tokenize.COMMENT, tokenize.STRING) and _MARKER.search(tok.string)
        for tok in tokens
    )


def read_cli_candidate(path: str, game: str) -> str | None:
    """The command-line tools' input: the text of `path` ('-' for stdin) for a known game.

    Prints a one-line `error:` and returns None for an unknown game or an unreadable file,
    so every CLI that takes a candidate reports bad input the same way (exit 2).
    """
    import sys

    from gamecwm_jax.games.registry import UnknownGameError, get_game

    try:
        get_game(game)
    except UnknownGameError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        print(f"error: cannot read {path}: {e}", file=sys.stderr)
        return None
