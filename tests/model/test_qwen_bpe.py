"""Qwen2.5's offline tokenizer against ids published by others, round trips and the template.

The expected ids are not computed by this code: they were produced by Hugging Face's
Qwen2 tokenizer (a different BPE engine, run on Qwen's tokenizer.json) and published in
transformers' `tests/models/qwen2/test_tokenization_qwen2.py::test_tokenizer_integration`
(Qwen/Qwen-tokenizer, the vocabulary Qwen2 and Qwen2.5 share), in rtp-llm's Qwen2
tokenizer test, and in a Qwen2.5-7B-Instruct prompt dump.
"""

import pytest

from gamecwm_jax.games import list_games
from gamecwm_jax.games.prompts import build_prompt, golden_completion
from gamecwm_jax.model.qwen_bpe import NUM_RANKS, SPECIAL_TOKENS, Qwen25Tokenizer
from gamecwm_jax.model.testing import make_tiny_tokenizer


@pytest.fixture(scope="module")
def tok() -> Qwen25Tokenizer:
    return Qwen25Tokenizer()


PUBLISHED = [
    (
        ("Transformers (formerly known as pytorch-transformers and pytorch-pretrained-bert) "
        "provides general-purpose architectures (BERT, GPT-2, RoBERTa, XLM, DistilBert, "
        "XLNet...) for Natural Language Understanding (NLU) and Natural Language Generation "
        "(NLG) with over 32+ pretrained models in 100+ languages and deep interoperability "
        "between Jax, PyTorch and TensorFlow."),
        [8963, 388, 320, 69514, 3881, 438, 4510, 27414, 32852, 388, 323, 4510, 27414, 21334,
         35722, 1455, 529, 8, 5707, 4586, 58238, 77235, 320, 61437, 11, 479, 2828, 12, 17, 11,
         11830, 61437, 64, 11, 1599, 10994, 11, 27604, 321, 33, 529, 11, 29881, 6954, 32574,
         369, 18448, 11434, 45451, 320, 45, 23236, 8, 323, 18448, 11434, 23470, 320, 30042, 38,
         8, 448, 916, 220, 18, 17, 10, 80669, 4119, 304, 220, 16, 15, 15, 10, 15459, 323, 5538,
         94130, 2897, 1948, 619, 706, 11, 5355, 51, 21584, 323, 94986, 13],
    ),
    (
        ("🤗 Transformers 提供了可以轻松地下载并且训练先进的预训练模型的 API 和工具。"
        "使用预训练模型可以减少计算消耗和碳排放，并且节省从头训练所需要的时间和资源。"),
        [144834, 80532, 93685, 83744, 34187, 73670, 104261, 29490, 62189, 103937, 104034,
         102830, 98841, 104034, 104949, 9370, 5333, 58143, 102011, 1773, 37029, 98841, 104034,
         104949, 73670, 101940, 100768, 104997, 33108, 100912, 105054, 90395, 100136, 106831,
         45181, 64355, 104034, 113521, 101975, 33108, 85329, 1773],
    ),
    (
        ('```python\ntokenizer = AutoTokenizer.from_pretrained("Qwen/Qwen-tokenizer")\n'
        'tokenizer("世界，你好！")```'),
        [73594, 12669, 198, 85593, 284, 8979, 37434, 6387, 10442, 35722, 445, 48, 16948, 45274,
         16948, 34841, 3135, 1138, 85593, 445, 99489, 3837, 108386, 6313, 899, 73594],
    ),
    ("<|im_start|>hello<|im_end|>", [151644, 14990, 151645]),
    (
        " are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
        [525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198],
    ),
]  # fmt: skip


@pytest.mark.parametrize("text,ids", PUBLISHED)
def test_ids_match_published_qwen2_tokenizations(tok, text, ids):
    assert tok.encode(text) == ids
    assert tok(text, add_special_tokens=False)["input_ids"] == ids
    assert tok.decode(ids) == text


def test_special_tokens_follow_the_ranks_in_qwen25_order(tok):
    assert NUM_RANKS == 151_643 and tok.vocab_size == 151_665
    for i, special in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(special) == NUM_RANKS + i
        assert tok.encode(f"a{special}b") == [64, NUM_RANKS + i, 65]  # one token, mid-text
    assert (tok.eos_token_id, tok.pad_token_id) == (151645, 151643)  # Qwen2.5-Instruct's
    assert tok.convert_tokens_to_ids("<|file_sep|>") == 151664
    ids = tok.encode("<|im_start|>x<|im_end|>")
    assert tok.decode(ids, skip_special_tokens=True) == "x"


def test_nfc_normalisation_before_bpe(tok):
    # U+03D2 U+0301 (NFD) is U+03D3 in NFC: Qwen2's normalizer makes them one token sequence.
    assert tok.encode("\u03d2\u0301") == tok.encode("\u03d3")


def test_pretokenizer_splits_digits_and_keeps_code_whitespace(tok):
    # Qwen2 splits numbers into single digits ("0"..."9" are ids 15..24).
    assert tok.encode("2026") == [17, 15, 17, 21]
    # "\n" is 198, " " is 220; four-space indentation is a single token, not four.
    assert len(tok.encode("    ")) == 1 and tok.encode("\n") == [198]
    # Whitespace before a word leaves its last space to the word (the `\s+(?!\S)` branch);
    # punctuation keeps the newlines that follow it (`[\r\n]*`).
    pieces = [tok.decode([i]) for i in tok.encode("x = [1]\n\n\ndef f():\n    return x")]
    assert pieces == ["x", " =", " [", "1", "]\n\n\n", "def", " f", "():\n", "   ", " return", " x"]


@pytest.mark.parametrize("name", list_games())
def test_every_prompt_and_golden_round_trips(tok, name):
    for text in (build_prompt(name), golden_completion(name)):
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert all(0 <= i < NUM_RANKS for i in ids)  # no special token inside our texts
        assert len(ids) < len(text.encode())  # BPE merged something


def test_chat_template_matches_a_jinja_rendering(tok):
    """Our Python rendering vs transformers' Jinja engine on the same ChatML structure."""
    jinja = make_tiny_tokenizer()  # Qwen2.5's template structure (default system differs)
    messages = [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "Write tic-tac-toe."},
    ]
    for gen in (True, False):
        ours = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        ref = jinja.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        assert ours == ref
    no_system = tok.apply_chat_template(messages[1:], tokenize=False, add_generation_prompt=True)
    assert no_system.startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
        "You are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    )
    assert tok.apply_chat_template(messages, add_generation_prompt=True) == tok.encode(
        tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    )
