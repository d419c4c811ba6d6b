"""Qwen2 / Qwen2.5 in JAX: config, weights, forward pass, LoRA and tokenizer.

The public API the trainer codes against:

  Qwen2Config, preset                    architecture hyper-parameters
  load_pretrained(path_or_hub_id, dtype) -> (cfg, params)
  init_params(key, cfg, dtype)           random weights with real shapes
  Qwen2(cfg, lora_cfg, remat)            the Flax linen module; `forward` is its
                                         `.apply({"params": params}, ...)`
  forward(params, cfg, tokens_bt, positions_bt, mask_bt, *, lora, lora_cfg,
          cache, return_hidden, dropout_key, remat) -> (logits | hidden, cache)
  lm_head(params, cfg, h_btd) -> fp32 logits
  init_cache(cfg, batch, max_len, dtype)
  count_params(params)
  lora.{LoraConfig, init_lora, merge_lora, save_lora, load_lora}
  tokenizer.{load_tokenizer, chat_prompt, extract_code}
"""

from gamecwm_jax.model import lora, tokenizer
from gamecwm_jax.model.checkpoint import CheckpointError, load_pretrained
from gamecwm_jax.model.config import PRESETS, Qwen2Config, preset
from gamecwm_jax.model.lora import LoraConfig, init_lora, load_lora, merge_lora, save_lora
from gamecwm_jax.model.qwen2 import (
    Qwen2,
    count_params,
    forward,
    init_cache,
    init_params,
    lm_head,
    param_shapes,
)
from gamecwm_jax.model.tokenizer import chat_prompt, extract_code, load_tokenizer

__all__ = [
    "CheckpointError",
    "LoraConfig",
    "PRESETS",
    "Qwen2",
    "Qwen2Config",
    "chat_prompt",
    "count_params",
    "extract_code",
    "forward",
    "init_cache",
    "init_lora",
    "init_params",
    "lm_head",
    "load_lora",
    "load_pretrained",
    "load_tokenizer",
    "lora",
    "merge_lora",
    "param_shapes",
    "preset",
    "save_lora",
    "tokenizer",
]
