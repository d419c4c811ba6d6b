"""Offline test fixtures: tiny random Qwen2 checkpoints with a real tokenizer.

Importable by any test in the project (model, sampler, trainer end-to-end), so
nothing ever needs a hub download. Requires torch + transformers (test extra).
"""

from __future__ import annotations

import functools
import os

# Byte-level tokenizer: ids 0..255 are the 256 byte symbols, then specials.
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
PAD_ID, IM_START_ID, EOS_ID = 256, 257, 258
TINY_VOCAB = 272  # >= 259 tokenizer entries, rounded up like real checkpoints

# Qwen-style template (same structure as Qwen2.5's, minus tool calling).
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def make_tiny_tokenizer():
    """Byte-level BPE with no merges (any text encodes, 1 token per byte) plus
    Qwen's special tokens and chat template, as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_symbols = sorted(pre_tokenizers.ByteLevel.alphabet(), key=lambda c: _byte_of(c))
    vocab = {sym: i for i, sym in enumerate(byte_symbols)}
    for i, tok in enumerate(SPECIAL_TOKENS):
        vocab[tok] = 256 + i
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START],
        padding_side="left",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _byte_of(symbol: str) -> int:
    """Inverse of GPT-2's bytes_to_unicode for one symbol."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(map(chr, cs), bs))[symbol]


def tiny_hf_config(tie: bool = True, **overrides):
    """transformers Qwen2Config: hidden 64, 2 layers, 4 heads / 2 kv heads."""
    from transformers import Qwen2Config as HFQwen2Config

    kw = dict(
        vocab_size=TINY_VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rms_norm_eps=1e-6,
        rope_theta=1e6,  # Qwen2.5's: a theta mix-up fails every parity test
        tie_word_embeddings=tie,
        bos_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    kw.update(overrides)
    return HFQwen2Config(**kw)


def make_tiny_qwen2(
    path: str, tie: bool = True, seed: int = 0, with_tokenizer: bool = True, **overrides
) -> str:
    """Saves a random tiny Qwen2ForCausalLM (+ tokenizer) to `path`; returns it.

    Biases and norm scales are randomised too (HF initialises them to 0/1), so
    parity tests would catch a dropped bias or a misplaced norm weight.
    """
    import torch
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(tiny_hf_config(tie=tie, **overrides)).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.1)
            elif "norm" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.08)  # a bit wider than init so logits are not all ties
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    if with_tokenizer:
        make_tiny_tokenizer().save_pretrained(path)
    return path


@functools.cache
def jit_forward():
    """`qwen2.forward` jitted with its static arguments marked (tests call the
    model many times; eager op-by-op dispatch would dominate their runtime).
    Cached so every test module shares one compilation cache."""
    import jax

    from gamecwm_jax.model.qwen2 import forward

    return jax.jit(
        forward, static_argnums=(1,), static_argnames=("lora_cfg", "return_hidden", "remat")
    )
