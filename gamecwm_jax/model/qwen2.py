"""Qwen2 decoder as pure functions over an explicit parameter pytree.

Why plain functions rather than Flax modules: the trainer needs to (a) hold the
frozen base weights and the LoRA weights in two separate pytrees, (b) run the
same weights with and without LoRA (reference policy for GRPO, no second
model), and (c) thread a preallocated KV cache through a jitted decode loop.
All three are one-liners when the model is `forward(params, ...)`.

Parameter layout (our layout is `x @ w`, i.e. HF weights transposed; every
per-layer leaf is stacked on a leading `L` axis so the layers run under one
`lax.scan`, which keeps compile time independent of depth):

  embed       [V, D]
  layers/
    attn_norm [L, D]        q_w [L, D, N*H]   q_b [L, N*H]
    mlp_norm  [L, D]        k_w [L, D, K*H]   k_b [L, K*H]
    gate_w    [L, D, F]     v_w [L, D, K*H]   v_b [L, K*H]
    up_w      [L, D, F]     o_w [L, N*H, D]   (Qwen2 has no o bias)
    down_w    [L, F, D]
  final_norm  [D]
  lm_head     [D, V]        only when cfg.tie_word_embeddings is False

Shape suffixes: b batch, t query time, s key time (cache slots), d model,
n query heads, k kv heads, g query heads per kv head, h head dim, v vocab,
l layers, f MLP width.

Numerics: matmuls run in the parameter dtype (bf16 in training); RMSNorm
statistics, RoPE, attention logits/softmax and LM-head logits are fp32.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from gamecwm_jax.model import lora as lora_lib
from gamecwm_jax.model.config import Qwen2Config

Params = dict[str, Any]
Cache = dict[str, jax.Array]

# Large finite negative instead of -inf: a fully masked row (a left-pad query)
# then yields a uniform softmax instead of NaNs that would poison gradients.
_MASK_VALUE = -1e30

# HF tensor name (per layer, under `model.layers.{i}.`) and whether it is
# stored transposed relative to our `x @ w` layout.
LAYER_HF_NAMES: dict[str, tuple[str, bool]] = {
    "attn_norm": ("input_layernorm.weight", False),
    "q_w": ("self_attn.q_proj.weight", True),
    "q_b": ("self_attn.q_proj.bias", False),
    "k_w": ("self_attn.k_proj.weight", True),
    "k_b": ("self_attn.k_proj.bias", False),
    "v_w": ("self_attn.v_proj.weight", True),
    "v_b": ("self_attn.v_proj.bias", False),
    "o_w": ("self_attn.o_proj.weight", True),
    "mlp_norm": ("post_attention_layernorm.weight", False),
    "gate_w": ("mlp.gate_proj.weight", True),
    "up_w": ("mlp.up_proj.weight", True),
    "down_w": ("mlp.down_proj.weight", True),
}


def param_shapes(cfg: Qwen2Config) -> Params:
  """Shapes of every parameter in our layout; the single source of truth for
  `init_params` and for the checkpoint loader's shape checks."""
  d, f, l = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
  layers = {
      "attn_norm": (l, d),
      "q_w": (l, d, cfg.q_dim),
      "q_b": (l, cfg.q_dim),
      "k_w": (l, d, cfg.kv_dim),
      "k_b": (l, cfg.kv_dim),
      "v_w": (l, d, cfg.kv_dim),
      "v_b": (l, cfg.kv_dim),
      "o_w": (l, cfg.q_dim, d),
      "mlp_norm": (l, d),
      "gate_w": (l, d, f),
      "up_w": (l, d, f),
      "down_w": (l, f, d),
  }
  shapes: Params = {"embed": (cfg.vocab_size, d), "layers": layers, "final_norm": (d,)}
  if not cfg.tie_word_embeddings:
    shapes["lm_head"] = (d, cfg.vocab_size)
  return shapes


@functools.partial(jax.jit, static_argnums=(1, 2))
def init_params(key: jax.Array, cfg: Qwen2Config, dtype: Any = jnp.bfloat16) -> Params:
  """Random weights with real shapes (benchmarks, smoke tests).

  Norm scales are ones and everything else N(0, 0.02), roughly what a trained
  checkpoint looks like numerically, so benchmarks exercise realistic values.
  Jitted so the whole tree is one compiled program, not one per leaf.
  """
  shapes = param_shapes(cfg)
  leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda x: isinstance(x, tuple))
  paths = [jax.tree_util.keystr(p) for p, _ in
           jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda x: isinstance(x, tuple))[0]]
  keys = jax.random.split(key, len(leaves))
  out = []
  for path, shape, k in zip(paths, leaves, keys):
    if "norm" in path:
      out.append(jnp.ones(shape, dtype))
    else:
      out.append((0.02 * jax.random.normal(k, shape, jnp.float32)).astype(dtype))
  return jax.tree.unflatten(treedef, out)


def count_params(params: Params) -> int:
  """Total number of scalars in a pytree (base params or LoRA params)."""
  return sum(int(x.size) for x in jax.tree.leaves(params))


def init_cache(cfg: Qwen2Config, batch: int, max_len: int, dtype: Any = jnp.bfloat16) -> Cache:
  """Preallocated KV cache.

  k, v:  [L, B, S, K, H]  keys/values per layer and cache slot.
  mask:  [B, S] bool      slot holds a real (non-pad) token.
  index: int32 scalar     next slot to write; all rows share it because
                          prompts are left-padded to a common length.
  """
  shape = (cfg.num_hidden_layers, batch, max_len, cfg.num_key_value_heads, cfg.head_dim)
  return {
      "k": jnp.zeros(shape, dtype),
      "v": jnp.zeros(shape, dtype),
      "mask": jnp.zeros((batch, max_len), jnp.bool_),
      "index": jnp.zeros((), jnp.int32),
  }


def rms_norm(x_btd: jax.Array, scale_d: jax.Array, eps: float) -> jax.Array:
  """RMSNorm with fp32 statistics, then cast back before the scale (as HF)."""
  x = x_btd.astype(jnp.float32)
  x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)
  return scale_d * x.astype(x_btd.dtype)


def rope_sin_cos(positions_bt: jax.Array, head_dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
  """fp32 sin/cos tables [B, T, H] for the half-split ("rotate_half") RoPE."""
  inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  ang_bth = positions_bt.astype(jnp.float32)[..., None] * inv_freq
  ang_bth = jnp.concatenate([ang_bth, ang_bth], axis=-1)
  return jnp.sin(ang_bth), jnp.cos(ang_bth)


def apply_rope(x_btnh: jax.Array, sin_bth: jax.Array, cos_bth: jax.Array) -> jax.Array:
  """Rotates head vectors by position (in fp32: bf16 angles drift at long positions)."""
  x = x_btnh.astype(jnp.float32)
  x1, x2 = jnp.split(x, 2, axis=-1)
  rotated = jnp.concatenate([-x2, x1], axis=-1)
  out = x * cos_bth[:, :, None, :] + rotated * sin_bth[:, :, None, :]
  return out.astype(x_btnh.dtype)


def attention(q_btnh: jax.Array, k_bskh: jax.Array, v_bskh: jax.Array,
              mask_bts: jax.Array) -> jax.Array:
  """Grouped-query attention; returns [B, T, N*H].

  Query heads are grouped as [K, G] so each kv head is read once for its G
  query heads instead of being materialised G times.
  """
  b, t, n, h = q_btnh.shape
  k = k_bskh.shape[2]
  q_btkgh = q_btnh.reshape(b, t, k, n // k, h)
  logits_bkgts = jnp.einsum("btkgh,bskh->bkgts", q_btkgh, k_bskh,
                            preferred_element_type=jnp.float32) * (h ** -0.5)
  logits_bkgts = jnp.where(mask_bts[:, None, None], logits_bkgts, _MASK_VALUE)
  probs_bkgts = jax.nn.softmax(logits_bkgts, axis=-1).astype(v_bskh.dtype)
  out_btkgh = jnp.einsum("bkgts,bskh->btkgh", probs_bkgts, v_bskh)
  return out_btkgh.reshape(b, t, n * h)


def _qkv(cfg: Qwen2Config, h_btd: jax.Array, p: Params, proj, sin_bth: jax.Array,
         cos_bth: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Projects to per-head queries/keys/values (with biases) and rotates q, k."""
  b, t, _ = h_btd.shape
  hd = cfg.head_dim
  q_btnh = (proj("q", h_btd) + p["q_b"]).reshape(b, t, cfg.num_attention_heads, hd)
  k_btkh = (proj("k", h_btd) + p["k_b"]).reshape(b, t, cfg.num_key_value_heads, hd)
  v_btkh = (proj("v", h_btd) + p["v_b"]).reshape(b, t, cfg.num_key_value_heads, hd)
  return apply_rope(q_btnh, sin_bth, cos_bth), apply_rope(k_btkh, sin_bth, cos_bth), v_btkh


def _mlp_block(cfg: Qwen2Config, x_btd: jax.Array, p: Params, proj) -> jax.Array:
  """x + SwiGLU(norm(x))."""
  h_btd = rms_norm(x_btd, p["mlp_norm"], cfg.rms_norm_eps)
  return x_btd + proj("down", jax.nn.silu(proj("gate", h_btd)) * proj("up", h_btd))


def forward(
    params: Params,
    cfg: Qwen2Config,
    tokens_bt: jax.Array,
    positions_bt: jax.Array,
    mask_bt: jax.Array,
    *,
    lora: Params | None = None,
    lora_cfg: "lora_lib.LoraConfig | None" = None,
    cache: Cache | None = None,
    return_hidden: bool = False,
    dropout_key: jax.Array | None = None,
    remat: bool | None = None,
) -> tuple[jax.Array, Cache | None]:
  """Runs the decoder on a (left-)padded batch.

  Args:
    tokens_bt: int token ids; pad slots may hold any id.
    positions_bt: RoPE positions, explicit so left padding works
      (`cumsum(mask) - 1` for a prompt; continuing counts while decoding).
    mask_bt: 1 for real tokens, 0 for padding. Padded keys are never attended
      to; outputs at padded queries are finite garbage.
    lora / lora_cfg: optional adapter pytree; `lora=None` is the frozen base
      model (the GRPO reference policy).
    cache: optional KV cache from `init_cache`. New keys/values are written at
      `cache['index']` and attention covers every earlier slot; the updated
      cache (index advanced by T) is returned. Without a cache the second
      return value is None.
    return_hidden: return the final-normed hidden states [B, T, D] instead of
      logits, so callers can apply `lm_head` to chunks of the sequence and never
      hold [B, T, V] fp32 logits at once.
    dropout_key: enables LoRA dropout (training only).
    remat: rematerialise each layer in the backward pass; default cfg.remat.

  Returns:
    (fp32 logits [B, T, V] or hidden [B, T, D], new cache or None).
  """
  remat = cfg.remat if remat is None else remat
  b, t = tokens_bt.shape
  mask_bt = mask_bt.astype(jnp.bool_)
  x_btd = jnp.take(params["embed"], tokens_bt, axis=0)
  sin_bth, cos_bth = rope_sin_cos(positions_bt, cfg.head_dim, cfg.rope_theta)

  if cache is None:
    key_mask_bs = mask_bt
    q_slot_t = jnp.arange(t)
    k_slot_s = jnp.arange(t)
  else:
    index = cache["index"]
    key_mask_bs = jax.lax.dynamic_update_slice(cache["mask"], mask_bt, (0, index))
    q_slot_t = index + jnp.arange(t)
    k_slot_s = jnp.arange(cache["mask"].shape[1])
  causal_ts = k_slot_s[None, :] <= q_slot_t[:, None]
  mask_bts = key_mask_bs[:, None, :] & causal_ts[None]

  lora_layers = lora_lib.stacked_lora(lora, lora_cfg)
  scale = lora_lib.scale(lora_cfg) if lora_layers else 0.0
  dropout = lora_cfg.dropout if (lora_layers and dropout_key is not None) else 0.0

  def layer_body(carry, xs):
    """One pre-norm decoder block; the full [L, ...] cache rides in the carry so
    each layer writes only its T new slots in place (no per-step cache copy)."""
    x_btd, k_cache, v_cache = carry
    p, lp, li = xs
    layer_key = None if dropout == 0.0 else jax.random.fold_in(dropout_key, li)

    def proj(name: str, h: jax.Array) -> jax.Array:
      """Linear layer `name` plus its LoRA delta when targeted."""
      y = h @ p[f"{name}_w"]
      if name in lp:
        key = None if layer_key is None else jax.random.fold_in(layer_key, lora_lib.TARGET_INDEX[name])
        y = y + lora_lib.lora_delta(h, lp[name], scale, dropout, key)
      return y

    h_btd = rms_norm(x_btd, p["attn_norm"], cfg.rms_norm_eps)
    q_btnh, k_bskh, v_bskh = _qkv(cfg, h_btd, p, proj, sin_bth, cos_bth)
    if k_cache is not None:
      at = (li, 0, cache["index"], 0, 0)
      k_cache = jax.lax.dynamic_update_slice(k_cache, k_bskh[None].astype(k_cache.dtype), at)
      v_cache = jax.lax.dynamic_update_slice(v_cache, v_bskh[None].astype(v_cache.dtype), at)
      k_bskh = jax.lax.dynamic_index_in_dim(k_cache, li, keepdims=False)
      v_bskh = jax.lax.dynamic_index_in_dim(v_cache, li, keepdims=False)
    x_btd = x_btd + proj("o", attention(q_btnh, k_bskh, v_bskh, mask_bts))
    x_btd = _mlp_block(cfg, x_btd, p, proj)
    return (x_btd, k_cache, v_cache), None

  if remat:
    layer_body = jax.checkpoint(layer_body, prevent_cse=False)

  k0 = None if cache is None else cache["k"]
  v0 = None if cache is None else cache["v"]
  xs = (params["layers"], lora_layers, jnp.arange(cfg.num_hidden_layers))
  (x_btd, k_new, v_new), _ = jax.lax.scan(layer_body, (x_btd, k0, v0), xs)

  h_btd = rms_norm(x_btd, params["final_norm"], cfg.rms_norm_eps)
  new_cache = None
  if cache is not None:
    new_cache = {"k": k_new, "v": v_new, "mask": key_mask_bs, "index": cache["index"] + t}
  if return_hidden:
    return h_btd, new_cache
  return lm_head(params, cfg, h_btd), new_cache


def lm_head(params: Params, cfg: Qwen2Config, h_btd: jax.Array) -> jax.Array:
  """fp32 logits [..., V] from final-normed hidden states (tied or untied)."""
  if cfg.tie_word_embeddings:
    return jnp.einsum("...d,vd->...v", h_btd, params["embed"], preferred_element_type=jnp.float32)
  return jnp.einsum("...d,dv->...v", h_btd, params["lm_head"], preferred_element_type=jnp.float32)
