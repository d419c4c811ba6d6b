"""Qwen2 architecture hyper-parameters.

One frozen (hence hashable) dataclass, so a config can be a static argument of
`jax.jit` and every distinct architecture compiles exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any


@dataclasses.dataclass(frozen=True)
class Qwen2Config:
    """Shape and numerics of a Qwen2 / Qwen2.5 decoder.

    Field names follow Hugging Face's `config.json` so `from_hf_json` is a
    plain rename-free read. Two fields are not architectural: `remat` asks
    `forward` to rematerialise each decoder layer in the backward pass (saves
    activation memory during training, costs one extra forward), and
    `attn_block` makes attention over more than that many queries run one block
    of queries at a time (fp32 scores [.., attn_block, S] instead of [.., T, S];
    0 turns it off). Neither changes the result.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int | None = None  # None -> hidden_size // num_attention_heads
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    remat: bool = False
    attn_block: int = 512

    def __post_init__(self):
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if self.attn_block < 0:
            raise ValueError(f"attn_block={self.attn_block} must be >= 0 (0: no query blocks)")
        if isinstance(self.eos_token_id, list):
            object.__setattr__(self, "eos_token_id", tuple(self.eos_token_id))

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def eos_ids(self) -> tuple[int, ...]:
        """EOS ids from the model config as a tuple (possibly empty)."""
        if self.eos_token_id is None:
            return ()
        if isinstance(self.eos_token_id, int):
            return (self.eos_token_id,)
        return tuple(self.eos_token_id)

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> "Qwen2Config":
        """Builds a config from a parsed HF `config.json` dictionary.

        transformers>=5 moves `rope_theta` into `rope_parameters`; older files keep
        it at top level with an optional `rope_scaling`. Only plain RoPE is
        implemented (all Qwen2.5 Instruct checkpoints ship without scaling), so any
        other rope type is rejected rather than silently producing wrong logits.
        """
        model_type = d.get("model_type", "qwen2")
        if model_type != "qwen2":
            raise ValueError(f"expected model_type 'qwen2', got {model_type!r}")
        rope = d.get("rope_parameters") or d.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in (None, "default"):
            raise NotImplementedError(f"rope type {rope_type!r} is not supported")
        theta = rope.get("rope_theta", d.get("rope_theta", 10000.0))
        if d.get("use_sliding_window", False):
            raise NotImplementedError("sliding-window attention is not supported")
        eos = d.get("eos_token_id")
        return cls(
            vocab_size=int(d["vocab_size"]),
            hidden_size=int(d["hidden_size"]),
            intermediate_size=int(d["intermediate_size"]),
            num_hidden_layers=int(d["num_hidden_layers"]),
            num_attention_heads=int(d["num_attention_heads"]),
            num_key_value_heads=int(d.get("num_key_value_heads", d["num_attention_heads"])),
            head_dim=d.get("head_dim"),
            rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
            rope_theta=float(theta),
            max_position_embeddings=int(d.get("max_position_embeddings", 32768)),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=tuple(eos) if isinstance(eos, list) else eos,
        )

    @classmethod
    def from_hf_json(cls, path: str) -> "Qwen2Config":
        """Reads `config.json` (a file, or a checkpoint directory containing it)."""
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no config.json at {path}")
        with open(path) as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} is not valid JSON: {e}") from e
        return cls.from_hf_dict(d)


# Values copied from the public config.json of each Qwen2.5-*-Instruct model.
_COMMON = dict(
    rms_norm_eps=1e-6,
    rope_theta=1_000_000.0,
    max_position_embeddings=32768,
    bos_token_id=151643,
    eos_token_id=151645,
)

PRESETS: dict[str, Qwen2Config] = {
    "0.5b": Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        **_COMMON,
    ),
    "1.5b": Qwen2Config(
        vocab_size=151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        **_COMMON,
    ),
    "3b": Qwen2Config(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        **_COMMON,
    ),
    "7b": Qwen2Config(
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        tie_word_embeddings=False,
        **_COMMON,
    ),
    # Shapes of Qwen2.5-14B(-Instruct)'s config.json; a run always reads the checkpoint's own.
    "14b": Qwen2Config(
        vocab_size=152064,
        hidden_size=5120,
        intermediate_size=13824,
        num_hidden_layers=48,
        num_attention_heads=40,
        num_key_value_heads=8,
        tie_word_embeddings=False,
        **{**_COMMON, "rms_norm_eps": 1e-5},
    ),
}


def preset(name: str) -> Qwen2Config:
    """Returns the config of a Qwen2.5 Instruct size: '0.5b', '1.5b', '3b', '7b' or '14b'."""
    key = name.lower().removeprefix("qwen2.5-").removesuffix("-instruct")
    if key not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[key]
