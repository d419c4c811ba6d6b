"""Tokenizer loading, chat prompts and code extraction from completions."""

from __future__ import annotations

from typing import Any

# The answer format belongs to the prompt; re-exported here for callers of the model API.
from gamecwm_jax.games.prompts import extract_code  # noqa: E402,F401


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
