"""The candidate as text: code extraction, parse diagnostics and stub detection.

All of it runs in the trusted process on the source only (nothing is executed here).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import io
import re
import tokenize
from pathlib import Path
from typing import Callable

_TOKENIZER = Path(__file__).resolve().parents[1] / "model" / "tokenizer.py"
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_MARKER = re.compile(r"\b(TODO|FIXME|XXX)\b|(?i:placeholder|implement (this|me|here)|your code here"
                     r"|not implemented)")


def _fallback_extract(completion: str) -> str:
    blocks = [b for b in _FENCE.findall(completion) if b.strip()]
    return max(blocks, key=len) if blocks else completion


def _load_extract_code() -> Callable[[str], str]:
    """The model package's `extract_code` (one definition of "the code in a completion"),
    loaded from its file so that the verifier does not import JAX; a fallback otherwise."""
    try:
        spec = importlib.util.spec_from_file_location("_gamecwm_tokenizer", _TOKENIZER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.extract_code
    except Exception:  # noqa: BLE001 - missing, or needs what we do not have
        return _fallback_extract


extract_code = _load_extract_code()


def _is_bare_module(text: str) -> bool:
    """A completion that is already a whole program (parses, defines functions) is taken
    as is; extraction heuristics only ever see text with prose or fences in it."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in tree.body)


@dataclasses.dataclass
class Source:
    code: str  # the extracted program ("" if none)
    tree: ast.Module | None
    problem: str | None  # why it cannot run: empty / no code / truncated / syntax error


def parse_completion(completion: str) -> Source:
    """Extracts the program from a completion (fenced or bare) and parses it."""
    if not completion or not completion.strip():
        return Source("", None, "empty completion")
    code = completion if _is_bare_module(completion) else extract_code(completion)
    if not code.strip():
        return Source("", None, "no code in the completion")
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        looks_like_code = bool(re.search(r"^\s*(def|import|from|class)\s", code, re.MULTILINE))
        if not looks_like_code:
            return Source(code, None, "no code in the completion (only prose)")
        truncated = "was never closed" in str(e.msg) or "unexpected EOF" in str(e.msg) or (
            e.lineno is not None and e.lineno >= code.count("\n"))
        what = "truncated code" if truncated else "syntax error"
        return Source(code, None, f"{what}: {e.msg} (line {e.lineno})")
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return Source(code, None, f"syntax error: {type(e).__name__}")
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.Import,
                              ast.ImportFrom, ast.ClassDef)) for n in tree.body):
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


def stubbed_functions(tree: ast.Module, required: tuple[str, ...],
                      constant_ok: tuple[str, ...] = ()) -> list[str]:
    """Required functions whose body is only a docstring plus pass / ... / raise
    NotImplementedError / a constant return (the latter allowed for `constant_ok`)."""
    stubs = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name not in required:
            continue
        body = list(node.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if len(body) != 1:
            continue
        stmt = body[0]
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(
                stmt.value, ast.Constant) and stmt.value.value is Ellipsis):
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
    return any(tok.type in (tokenize.COMMENT, tokenize.STRING) and _MARKER.search(tok.string)
               for tok in tokens)
