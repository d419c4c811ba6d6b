"""Tokenizer helpers: chat prompts and code extraction."""

import pytest

from gamecwm_jax.model import chat_prompt, extract_code, load_tokenizer
from gamecwm_jax.model.testing import EOS_ID


def test_chat_prompt(tiny_ckpt):
    tok = load_tokenizer(tiny_ckpt)
    text = chat_prompt(tok, "Write tic-tac-toe.")
    assert text.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nWrite tic-tac-toe.<|im_end|>" in text
    assert "You are a helpful assistant." in text
    custom = chat_prompt(tok, "hi", system="Be terse.")
    assert custom.startswith("<|im_start|>system\nBe terse.<|im_end|>")
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text and tok.eos_token_id == EOS_ID


CASES = [
    # Plain fenced python block with chatter around it.
    (
        "Sure! Here it is:\n```python\ndef f():\n    return 1\n```\nHope this helps.",
        "def f():\n    return 1\n",
    ),
    # Longest python block wins over a short usage example after it.
    (
        "```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n```\nUsage:\n"
        "```python\narea(2)\n```",
        "import math\n\ndef area(r):\n    return math.pi * r * r\n",
    ),
    # Equal length: the last block (the corrected one) wins.
    ("```python\nx = 1\n```\nOops, fixed:\n```python\nx = 2\n```", "x = 2\n"),
    # python-tagged beats untagged; bash blocks ignored.
    (
        "```bash\npip install foo\n```\n```\nprint('untagged but long long long')\n```\n```py\ny = 3\n```",
        "y = 3\n",
    ),
    # Untagged fence when no python tag exists.
    ("Here:\n```\nz = 4\n```", "z = 4\n"),
    # Truncated completion: no closing fence.
    ("```python\ndef g():\n    return 2\n", "def g():\n    return 2\n"),
    # Bare code with leading and trailing prose.
    (
        "Here is the code.\nimport os\n\ndef h():\n    return os.sep\nThis returns the separator.",
        "import os\n\ndef h():\n    return os.sep\n",
    ),
    # Windows newlines.
    ("```python\r\na = 1\r\n```", "a = 1\n"),
    # Nothing code-like.
    ("", ""),
]


@pytest.mark.parametrize("completion,expected", CASES)
def test_extract_code(completion, expected):
    assert extract_code(completion) == expected
