"""Export to the formats other tools load: HF checkpoints and PEFT adapters.

  save_hf_checkpoint  params (our layout) -> `config.json` + `model.safetensors`
                      in Hugging Face Qwen2 layout (+ tokenizer files); loads in
                      transformers (`AutoModelForCausalLM`) and vLLM.
  save_peft_adapter   LoRA -> `adapter_config.json` + `adapter_model.safetensors`
                      with PEFT's key names (`PeftModel.from_pretrained`,
                      vLLM `--enable-lora`).
  export_all          both, from a trained adapter.

Conventions: our weights are `x @ w` ([D_in, D_out]); HF/PEFT store
`nn.Linear.weight` as [D_out, D_in]. Our LoRA `a` [L, D_in, r] is PEFT's
`lora_A.weight` [r, D_in] transposed per layer, `b` [L, r, D_out] is
`lora_B.weight` [D_out, r] transposed; both scale by alpha / r.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gamecwm_jax.model import Qwen2Config, merge_lora
from gamecwm_jax.model.lora import LoraConfig
from gamecwm_jax.model.qwen2 import LAYER_HF_NAMES

Params = dict[str, Any]

# Our LoRA target name -> the HF module path under `model.layers.{i}.`.
PEFT_MODULES: dict[str, str] = {
    "q": "self_attn.q_proj",
    "k": "self_attn.k_proj",
    "v": "self_attn.v_proj",
    "o": "self_attn.o_proj",
    "gate": "mlp.gate_proj",
    "up": "mlp.up_proj",
    "down": "mlp.down_proj",
}


def hf_config_dict(
    cfg: Qwen2Config, dtype: str = "bfloat16", base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A transformers-readable Qwen2 `config.json` for `cfg`.

    `base` (the source checkpoint's own config.json) is kept and only the fields
    we know are overwritten, so HF-only fields (sliding window defaults, ...) survive.
    """
    d = dict(base or {})
    d.update(
        {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": cfg.head_dim,
            "rms_norm_eps": cfg.rms_norm_eps,
            "rope_theta": cfg.rope_theta,
            "max_position_embeddings": cfg.max_position_embeddings,
            "tie_word_embeddings": cfg.tie_word_embeddings,
            "hidden_act": "silu",
            "bos_token_id": cfg.bos_token_id,
            "eos_token_id": list(cfg.eos_token_id)
            if isinstance(cfg.eos_token_id, tuple)
            else cfg.eos_token_id,
            "torch_dtype": dtype,
            "use_sliding_window": False,
        }
    )
    d.pop("rope_parameters", None)
    d.pop("rope_scaling", None)
    return d


def _to_numpy(x: jax.Array, dtype: str) -> np.ndarray:
    """Host copy in `dtype`; bf16 goes through ml_dtypes, which safetensors accepts."""
    return np.asarray(jnp.asarray(x).astype(jnp.dtype(dtype)))


def hf_state_dict(
    cfg: Qwen2Config, params: Params, dtype: str = "bfloat16"
) -> dict[str, np.ndarray]:
    """Our params as HF tensor names -> [D_out, D_in] arrays (inverse of the loader)."""
    out = {
        "model.embed_tokens.weight": _to_numpy(params["embed"], dtype),
        "model.norm.weight": _to_numpy(params["final_norm"], dtype),
    }
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = _to_numpy(params["lm_head"].T, dtype)
    for leaf, (suffix, transpose) in LAYER_HF_NAMES.items():
        stacked = params["layers"][leaf]
        for i in range(cfg.num_hidden_layers):
            x = stacked[i].T if transpose else stacked[i]
            out[f"model.layers.{i}.{suffix}"] = np.ascontiguousarray(_to_numpy(x, dtype))
    return out


def save_hf_checkpoint(
    out_dir: str,
    cfg: Qwen2Config,
    params: Params,
    *,
    tokenizer: Any = None,
    dtype: str = "bfloat16",
    base_config: dict[str, Any] | None = None,
) -> str:
    """Writes a single-file HF checkpoint (config.json, model.safetensors, tokenizer)."""
    from safetensors.numpy import save_file

    os.makedirs(out_dir, exist_ok=True)
    save_file(
        hf_state_dict(cfg, params, dtype),
        os.path.join(out_dir, "model.safetensors"),
        metadata={"format": "pt"},
    )
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config_dict(cfg, dtype, base_config), f, indent=2)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    return out_dir


def peft_state_dict(lora: Params) -> dict[str, np.ndarray]:
    """LoRA pytree -> PEFT tensor names and [r, D_in] / [D_out, r] fp32 arrays."""
    out = {}
    for t, ab in lora.items():
        a_lir = np.asarray(ab["a"], np.float32)
        b_lro = np.asarray(ab["b"], np.float32)
        for i in range(a_lir.shape[0]):
            prefix = f"base_model.model.model.layers.{i}.{PEFT_MODULES[t]}"
            out[f"{prefix}.lora_A.weight"] = np.ascontiguousarray(a_lir[i].T)
            out[f"{prefix}.lora_B.weight"] = np.ascontiguousarray(b_lro[i].T)
    return out


def save_peft_adapter(
    out_dir: str, lora: Params, lora_cfg: LoraConfig, base_model: str = "Qwen/Qwen2.5-3B-Instruct"
) -> str:
    """Writes `adapter_config.json` + `adapter_model.safetensors` in PEFT's format."""
    from safetensors.numpy import save_file

    os.makedirs(out_dir, exist_ok=True)
    save_file(
        peft_state_dict(lora),
        os.path.join(out_dir, "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": lora_cfg.rank,
        "lora_alpha": lora_cfg.alpha,
        "lora_dropout": lora_cfg.dropout,
        "target_modules": [PEFT_MODULES[t].split(".")[1] for t in lora_cfg.targets],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "use_rslora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return out_dir


def export_all(
    out_dir: str,
    cfg: Qwen2Config,
    params: Params,
    lora: Params,
    lora_cfg: LoraConfig,
    *,
    tokenizer: Any = None,
    base_model: str = "",
    dtype: str = "bfloat16",
) -> dict[str, str]:
    """`out_dir/peft` (adapter) and `out_dir/merged` (full model with LoRA folded in)."""
    base_config = None
    if base_model and os.path.isfile(os.path.join(base_model, "config.json")):
        with open(os.path.join(base_model, "config.json")) as f:
            base_config = json.load(f)
    peft_dir = save_peft_adapter(
        os.path.join(out_dir, "peft"), lora, lora_cfg, base_model or "unknown"
    )
    merged = merge_lora(params, lora, lora_cfg)
    merged_dir = save_hf_checkpoint(
        os.path.join(out_dir, "merged"),
        cfg,
        merged,
        tokenizer=tokenizer,
        dtype=dtype,
        base_config=base_config,
    )
    return {"peft": peft_dir, "merged": merged_dir}
