"""Tokenizer loading, chat prompts and code extraction from completions."""

from __future__ import annotations

import ast
import re
from typing import Any

# ```lang\n body ``` ; the closing fence is optional so a completion cut off by
# the token limit still yields its (possibly incomplete) code.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+\-.]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
# A line that plausibly starts a Python program.
_CODE_START = re.compile(
    r"^(import\s|from\s+\S+\s+import\s|def\s|class\s|async\s+def\s|@\w|#|if\s+__name__"
    r"|[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*(:[^=]+)?=[^=])")


def load_tokenizer(path: str) -> Any:
  """The checkpoint's tokenizer (transformers AutoTokenizer), left-padding."""
  from transformers import AutoTokenizer

  tok = AutoTokenizer.from_pretrained(path)
  tok.padding_side = "left"
  return tok


def chat_prompt(tokenizer: Any, user_text: str, system: str | None = None) -> str:
  """Renders one user turn with the model's chat template, ready to generate.

  With `system=None` the template's own default system prompt is used (Qwen2.5
  inserts "You are Qwen, created by Alibaba Cloud..."), matching what the
  model saw during instruction tuning.
  """
  messages = [] if system is None else [{"role": "system", "content": system}]
  messages.append({"role": "user", "content": user_text})
  return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _parses(code: str) -> bool:
  try:
    ast.parse(code)
    return True
  except (SyntaxError, ValueError):
    return False


def _bare_code(text: str) -> str:
  """Code from an unfenced completion: drop leading prose, then keep the
  longest prefix that parses (drops trailing prose such as "This code...")."""
  lines = text.splitlines()
  start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
  if start is None:
    return text.strip()
  lines = lines[start:]
  for end in range(len(lines), 0, -1):
    candidate = "\n".join(lines[:end]).strip()
    if candidate and _parses(candidate):
      return candidate
  return "\n".join(lines).strip()


def extract_code(completion: str) -> str:
  """The Python program inside a model completion.

  Preference order: fenced blocks tagged python (```python / ```py), then
  untagged fenced blocks, then bare code. Among several candidate blocks the
  longest wins (models often show a short usage snippet after the program),
  ties going to the last one (a later block is usually the corrected version).
  Blocks tagged with another language (```bash, ```text) are ignored.
  """
  text = completion.replace("\r\n", "\n")
  blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
  for wanted in (lambda lang: lang in _PYTHON_TAGS, lambda lang: lang == ""):
    bodies = [body.strip("\n") for lang, body in blocks if wanted(lang) and body.strip()]
    if bodies:
      best = max(range(len(bodies)), key=lambda i: (len(bodies[i].strip()), i))
      return bodies[best].strip("\n").rstrip() + "\n"
  if blocks:  # only other-language fences: treat the text outside them as prose
    text = _FENCE.sub("", text)
  code = _bare_code(text)
  return code + "\n" if code else ""
