"""Qwen2 decoder as Flax linen modules over an explicit parameter pytree.

Why linen with explicit pytrees: the modules declare the architecture and its
parameters, but never own the weights. `forward(params, ...)` is a thin
`Qwen2(cfg).apply({"params": params}, ...)`, so the trainer can (a) hold the
frozen base weights and the LoRA weights in two separate pytrees (LoRA is a
call argument, not a module variable, so the base is never copied or
re-wrapped), (b) run the same weights with and without LoRA (`lora=None` is the
GRPO reference policy, no second model), and (c) thread a preallocated, donated
KV cache through a jitted decode loop as a plain argument and return value.

Parameters are declared with `self.param` under the names below (no nested
submodules) and the layers run under one `nn.scan` with
`variable_axes={"params": 0}`, so Flax's variable tree *is* this layout and the
checkpoint loader, LoRA, sampler and export work on it directly. The sampler's
decode loop alone runs an unrolled view of the same weights (`unstack_layers`;
why is in `Qwen2`'s docstring).

Parameter layout (our layout is `x @ w`, i.e. HF weights transposed; every
per-layer leaf is stacked on a leading `L` axis so the layers run under one
scan, which keeps compile time independent of depth):

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
l layers, f MLP width; in query-blocked attention, c block and q query within it.

Numerics: matmuls run in the parameter dtype (bf16 in training); RMSNorm
statistics, RoPE, attention logits/softmax and LM-head logits are fp32.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gamecwm_jax.model import lora as lora_lib
from gamecwm_jax.model.config import Qwen2Config
from gamecwm_jax.parallel import CACHE_AXES, LAYER_CACHE_AXES, constrain

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
    `init_params` and for the checkpoint loader's shape checks (the modules'
    declarations are tested against it)."""
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
    shapes: Params = {
        "embed": (cfg.vocab_size, d),
        "layers": layers,
        "final_norm": (d,),
    }
    if not cfg.tie_word_embeddings:
        shapes["lm_head"] = (d, cfg.vocab_size)
    return shapes


def _initializer(name: str, dtype: Any) -> Callable[[jax.Array, tuple[int, ...]], jax.Array]:
    """Init of parameter `name`: ones for norm scales, else N(0, 0.02) drawn in
    fp32 then cast; roughly what a trained checkpoint looks like numerically."""

    def init(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        if "norm" in name:
            return jnp.ones(shape, dtype)
        return (0.02 * jax.random.normal(key, shape, jnp.float32)).astype(dtype)

    return init


def _param(module: nn.Module, name: str, *shape: int) -> jax.Array:
    """Declares (at init) or fetches (at apply) parameter `name` of `module`."""
    return module.param(name, _initializer(name, module.param_dtype), shape)


@functools.partial(jax.jit, static_argnums=(1, 2))
def init_params(key: jax.Array, cfg: Qwen2Config, dtype: Any = jnp.bfloat16) -> Params:
    """Random weights with real shapes (benchmarks, smoke tests).

    Same initialisers as `Qwen2(cfg, param_dtype=dtype).init`, but one key per
    leaf split from `key`, so seeded recipes and tests keep their exact values.
    Jitted so the whole tree is one compiled program, not one per leaf.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(
        param_shapes(cfg), is_leaf=lambda x: isinstance(x, tuple)
    )
    keys = jax.random.split(key, len(flat))
    return jax.tree.unflatten(
        treedef,
        [
            _initializer(jax.tree_util.keystr(path), dtype)(k, shape)
            for (path, shape), k in zip(flat, keys)
        ],
    )


def count_params(params: Params) -> int:
    """Total number of scalars in a pytree (base params or LoRA params)."""
    return sum(int(x.size) for x in jax.tree.leaves(params))


def init_cache(cfg: Qwen2Config, batch: int, max_len: int, dtype: Any = jnp.bfloat16) -> Cache:
    """Preallocated KV cache.

    k, v:  [L, B, K, S, H]  keys/values per layer, kv head and cache slot.
    mask:  [B, S] bool      slot holds a real (non-pad) token.
    index: int32 scalar     next slot to write; all rows share it because
                            prompts are left-padded to a common length.

    Slots sit next to the head dim (not next to the batch dim) so one layer's
    [B, K, S, H] slice is already in the layout of the two attention matmuls
    (batch dims B, K): reading it needs no transpose, which on CPU was a full
    copy of every layer's cache per decode step. `unstack_cache` turns k/v into
    tuples of per-layer buffers for the unrolled layout. On a device mesh the
    cache is split by rows and KV heads (`parallel.CACHE_AXES`).
    """
    shape = (
        cfg.num_hidden_layers,
        batch,
        cfg.num_key_value_heads,
        max_len,
        cfg.head_dim,
    )
    return {
        "k": constrain(jnp.zeros(shape, dtype), CACHE_AXES),
        "v": constrain(jnp.zeros(shape, dtype), CACHE_AXES),
        "mask": jnp.zeros((batch, max_len), jnp.bool_),
        "index": jnp.zeros((), jnp.int32),
    }


def rms_norm(x_btd: jax.Array, scale_d: jax.Array, eps: float) -> jax.Array:
    """RMSNorm with fp32 statistics, then cast back before the scale (as HF)."""
    x = x_btd.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)
    return scale_d * x.astype(x_btd.dtype)


def rope_sin_cos(
    positions_bt: jax.Array, head_dim: int, theta: float
) -> tuple[jax.Array, jax.Array]:
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


def attention(
    q_btnh: jax.Array,
    k_bksh: jax.Array,
    v_bksh: jax.Array,
    mask_bts: jax.Array,
    block: int = 0,
) -> jax.Array:
    """Grouped-query attention; returns [B, T, N*H].

    Query heads are grouped as [K, G] so each kv head is read once for its G
    query heads instead of being materialised G times. Keys/values come in the
    cache layout [B, K, S, H], so only the (small) query and output are
    transposed, never the S keys.

    With `0 < block < T` the queries are processed `block` at a time (see
    `_attention_in_query_blocks`): same result, but the fp32 scores of only one
    block, [B, K, G, block, S], exist at a time, in the forward and the backward.
    Decode steps and short sequences (T <= block) take the plain path below.
    """
    b, t, n, h = q_btnh.shape
    if 0 < block < t:
        return _attention_in_query_blocks(q_btnh, k_bksh, v_bksh, mask_bts, block)
    k = k_bksh.shape[1]
    q_bkgth = q_btnh.reshape(b, t, k, n // k, h).transpose(0, 2, 3, 1, 4)
    out_bkgth = grouped_attention(q_bkgth, k_bksh, v_bksh, mask_bts)
    return out_bkgth.transpose(0, 3, 1, 2, 4).reshape(b, t, n * h)


def _masked_scores(q_bkgth: jax.Array, k_bksh: jax.Array, mask_bts: jax.Array) -> jax.Array:
    """fp32 logits [B, K, G, T, S] = q k^T / sqrt(H), masked keys at _MASK_VALUE."""
    logits_bkgts = jnp.einsum(
        "bkgth,bksh->bkgts", q_bkgth, k_bksh, preferred_element_type=jnp.float32
    ) * (q_bkgth.shape[-1] ** -0.5)
    return jnp.where(mask_bts[:, None, None], logits_bkgts, _MASK_VALUE)


def _grouped_attention_fwd(q_bkgth, k_bksh, v_bksh, mask_bts):
    logits_bkgts = _masked_scores(q_bkgth, k_bksh, mask_bts)
    max_bkgt1 = jnp.max(logits_bkgts, axis=-1, keepdims=True)
    exp_bkgts = jnp.exp(logits_bkgts - max_bkgt1)
    sum_bkgt1 = jnp.sum(exp_bkgts, axis=-1, keepdims=True)
    probs_bkgts = (exp_bkgts / sum_bkgt1).astype(v_bksh.dtype)  # = jax.nn.softmax
    out_bkgth = jnp.einsum("bkgts,bksh->bkgth", probs_bkgts, v_bksh)
    # The max and the sum, not their log-sum-exp: a query that sees no key has max
    # _MASK_VALUE, and _MASK_VALUE + log(S) rounds back to _MASK_VALUE in fp32.
    return out_bkgth, (q_bkgth, k_bksh, v_bksh, mask_bts, max_bkgt1, sum_bkgt1)


@jax.custom_vjp
def grouped_attention(
    q_bkgth: jax.Array, k_bksh: jax.Array, v_bksh: jax.Array, mask_bts: jax.Array
) -> jax.Array:
    """softmax(q k^T / sqrt(H), masked) v [B, K, G, T, H], with a backward that
    recomputes the probabilities instead of keeping them.

    Autodiff keeps the fp32 probabilities (and the exponentials they were divided
    from) for the backward: two [B, K, G, T, S] residuals a layer, which the layer
    scan stacks, zero-fills, writes and reads back every step (the README's profile).
    Here only the inputs and the softmax's row max and sum [B, K, G, T, 1] are kept,
    and the backward recomputes p = exp(scores - max) / sum with one more q k^T, as
    FlashAttention's backward does: dV = p^T dO, dP = dO V^T, dS = p (dP - rowsum(p dP))
    / sqrt(H) at unmasked scores (0 at masked ones), dQ = dS K, dK = dS^T Q. Nothing of
    size T x S is kept between the forward and the backward. The forward is the plain
    one, so values are bit for bit unchanged; gradients equal autodiff's up to rounding
    (tests/model/test_qwen2.py).
    """
    return _grouped_attention_fwd(q_bkgth, k_bksh, v_bksh, mask_bts)[0]


def _grouped_attention_bwd(residuals, dout_bkgth):
    q_bkgth, k_bksh, v_bksh, mask_bts, max_bkgt1, sum_bkgt1 = residuals
    p_bkgts = jnp.exp(_masked_scores(q_bkgth, k_bksh, mask_bts) - max_bkgt1) / sum_bkgt1
    dv_bksh = jnp.einsum("bkgts,bkgth->bksh", p_bkgts.astype(v_bksh.dtype), dout_bkgth)
    dp_bkgts = jnp.einsum(
        "bkgth,bksh->bkgts", dout_bkgth, v_bksh, preferred_element_type=jnp.float32
    )
    centre_bkgt1 = jnp.sum(dp_bkgts * p_bkgts, axis=-1, keepdims=True)
    ds_bkgts = p_bkgts * (dp_bkgts - centre_bkgt1) * (q_bkgth.shape[-1] ** -0.5)
    # Masked scores are constants: no gradient (a query that sees no key has p = 1/S).
    ds_bkgts = jnp.where(mask_bts[:, None, None], ds_bkgts, 0.0).astype(q_bkgth.dtype)
    dq_bkgth = jnp.einsum("bkgts,bksh->bkgth", ds_bkgts, k_bksh)
    dk_bksh = jnp.einsum("bkgts,bkgth->bksh", ds_bkgts, q_bkgth)
    return dq_bkgth, dk_bksh, dv_bksh, None


grouped_attention.defvjp(_grouped_attention_fwd, _grouped_attention_bwd)


def _attention_in_query_blocks(
    q_btnh: jax.Array, k_bksh: jax.Array, v_bksh: jax.Array, mask_bts: jax.Array, block: int
) -> jax.Array:
    """`attention` run on `block` queries at a time, each attending to all S keys.

    Query rows are independent, so this is the same computation split along T.
    T is padded up to a multiple of `block` with fully masked queries (their
    uniform-softmax outputs are sliced off, so they get no gradient); padding
    keeps any T allowed, at the cost of less than one block of wasted work.
    `lax.map` runs the blocks one after another and `jax.checkpoint` makes its
    backward recompute each block's scores instead of saving them for all
    blocks, so the peak is one block's [B, K, G, block, S] in either direction
    (block / T of the [B, K, G, T, S] scores the plain path holds at once).
    """
    b, t, n, h = q_btnh.shape
    nblocks = -(-t // block)
    pad = nblocks * block - t
    q_cbqnh = jnp.pad(q_btnh, ((0, 0), (0, pad), (0, 0), (0, 0)))
    q_cbqnh = q_cbqnh.reshape(b, nblocks, block, n, h).swapaxes(0, 1)
    mask_cbqs = jnp.pad(mask_bts, ((0, 0), (0, pad), (0, 0)))
    mask_cbqs = mask_cbqs.reshape(b, nblocks, block, -1).swapaxes(0, 1)

    @functools.partial(jax.checkpoint, prevent_cse=False)  # CSE is harmless inside a loop
    def one_block(q_and_mask):
        return attention(q_and_mask[0], k_bksh, v_bksh, q_and_mask[1])

    out_cbqd = jax.lax.map(one_block, (q_cbqnh, mask_cbqs))
    return out_cbqd.swapaxes(0, 1).reshape(b, nblocks * block, n * h)[:, :t]


class DecoderLayer(nn.Module):
    """One pre-norm block: x += attn(norm(x)), then x += SwiGLU(norm(x)).

    `kv` is this layer's (k, v) cache, each [B, K, S, H], or None without a
    cache; the T new keys/values are written at slot `cache_index` and the
    updated pair is returned next to x. As the body of `Qwen2`'s `nn.scan`,
    `lora` (this layer's {target: {a, b}} slices), `layer` (its index) and `kv`
    are scanned; the remaining inputs are shared by all layers.
    """

    cfg: Qwen2Config
    lora_scale: float = 0.0
    lora_dropout: float = 0.0
    param_dtype: Any = jnp.float32  # what `init` creates; `apply` uses the params as given

    @nn.compact
    def __call__(
        self,
        x_btd: jax.Array,
        lora: Params,
        layer: jax.Array,
        kv: tuple[jax.Array, jax.Array] | None,
        sin_bth: jax.Array,
        cos_bth: jax.Array,
        mask_bts: jax.Array,
        cache_index: jax.Array | None,
        dropout_key: jax.Array | None,
    ):
        cfg = self.cfg
        d, f, hd = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
        n_heads, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        attn_norm, mlp_norm = _param(self, "attn_norm", d), _param(self, "mlp_norm", d)
        w = {
            "q": _param(self, "q_w", d, cfg.q_dim),
            "k": _param(self, "k_w", d, cfg.kv_dim),
            "v": _param(self, "v_w", d, cfg.kv_dim),
            "o": _param(self, "o_w", cfg.q_dim, d),
            "gate": _param(self, "gate_w", d, f),
            "up": _param(self, "up_w", d, f),
            "down": _param(self, "down_w", f, d),
        }
        q_b = _param(self, "q_b", cfg.q_dim)
        k_b, v_b = _param(self, "k_b", cfg.kv_dim), _param(self, "v_b", cfg.kv_dim)
        layer_key = None if self.lora_dropout == 0.0 else jax.random.fold_in(dropout_key, layer)

        def proj(name: str, h: jax.Array) -> jax.Array:
            """Linear layer `name` plus its LoRA delta when targeted."""
            y = h @ w[name]
            if name in lora:
                key = (
                    None
                    if layer_key is None
                    else jax.random.fold_in(layer_key, lora_lib.TARGET_INDEX[name])
                )
                y = y + lora_lib.lora_delta(h, lora[name], self.lora_scale, self.lora_dropout, key)
            return y

        # Layout hints for a device mesh (no-ops without one; parallel.py): rows over
        # data x fsdp, heads / MLP columns over tensor, the residual stream whole on
        # each tensor shard (Megatron: one all-reduce after o and one after down).
        b, t, _ = x_btd.shape
        x_btd = constrain(x_btd, ("batch", None, None))
        h_btd = rms_norm(x_btd, attn_norm, cfg.rms_norm_eps)
        q_btnh = apply_rope((proj("q", h_btd) + q_b).reshape(b, t, n_heads, hd), sin_bth, cos_bth)
        k_btkh = apply_rope((proj("k", h_btd) + k_b).reshape(b, t, n_kv, hd), sin_bth, cos_bth)
        v_btkh = (proj("v", h_btd) + v_b).reshape(b, t, n_kv, hd)
        q_btnh = constrain(q_btnh, ("batch", None, "heads", None))
        k_bksh, v_bksh = k_btkh.transpose(0, 2, 1, 3), v_btkh.transpose(0, 2, 1, 3)
        if kv is not None:  # write this layer's T slots, then attend over all S
            at = (0, 0, cache_index, 0)
            k_bksh = jax.lax.dynamic_update_slice(kv[0], k_bksh.astype(kv[0].dtype), at)
            v_bksh = jax.lax.dynamic_update_slice(kv[1], v_bksh.astype(kv[1].dtype), at)
            k_bksh = constrain(k_bksh, LAYER_CACHE_AXES)
            v_bksh = constrain(v_bksh, LAYER_CACHE_AXES)
            kv = (k_bksh, v_bksh)
        attn_btd = attention(q_btnh, k_bksh, v_bksh, mask_bts, cfg.attn_block)
        x_btd = constrain(x_btd + proj("o", attn_btd), ("batch", None, None))
        h_btd = rms_norm(x_btd, mlp_norm, cfg.rms_norm_eps)
        gate_btf = constrain(jax.nn.silu(proj("gate", h_btd)), ("batch", None, "mlp"))
        x_btd = x_btd + proj("down", gate_btf * proj("up", h_btd))
        return x_btd, kv


class Qwen2(nn.Module):
    """Embedding, L x `DecoderLayer`, final norm, LM head.

    Two layouts of the same weights and cache (see `unstack_layers`):
      stacked   params["layers"] [L, ...], cache k/v [L, B, K, S, H]: the layers
                run under one `nn.scan`, so compile time does not grow with
                depth (training, prefill).
      unrolled  params["layer_{i}"], cache k/v a tuple of L [B, K, S, H]: a
                Python loop over layers (the decode step). Scanning stacked
                weights slices every layer's weights (and cache) out of the
                stack on every step, which XLA materialises as copies; separate
                buffers are read in place, so a memory-bound decode step reads
                each byte once.

    `__call__` takes `forward`'s arguments minus params/cfg/lora_cfg/remat (those
    are the module's fields); see `forward` for their meaning.
    """

    cfg: Qwen2Config
    lora_cfg: lora_lib.LoraConfig | None = None
    remat: bool = False  # rematerialise each layer in the backward pass
    unrolled: bool = False  # the unrolled layout above
    param_dtype: Any = jnp.float32  # what `init` creates; `apply` uses the params as given

    @nn.compact
    def __call__(
        self,
        tokens_bt: jax.Array,
        positions_bt: jax.Array,
        mask_bt: jax.Array,
        *,
        lora: Params | None = None,
        cache: Cache | None = None,
        return_hidden: bool = False,
        dropout_key: jax.Array | None = None,
    ) -> tuple[jax.Array, Cache | None]:
        cfg = self.cfg
        t = tokens_bt.shape[1]
        embed_vd = _param(self, "embed", cfg.vocab_size, cfg.hidden_size)
        mask_bt = mask_bt.astype(jnp.bool_)
        # On a mesh: look rows up in a table split by vocabulary only (each tensor shard
        # gathers its own ids, one all-reduce); a table also split along D (FSDP) would
        # make XLA replicate the gathered activations before re-splitting them by rows.
        lookup_vd = constrain(embed_vd, ("vocab", None))
        x_btd = constrain(jnp.take(lookup_vd, tokens_bt, axis=0), ("batch", None, None))
        sin_bth, cos_bth = rope_sin_cos(positions_bt, cfg.head_dim, cfg.rope_theta)

        if cache is None:
            key_mask_bs, index = mask_bt, None
            q_slot_t = jnp.arange(t)
            k_slot_s = jnp.arange(t)
        else:
            index = cache["index"]
            key_mask_bs = jax.lax.dynamic_update_slice(cache["mask"], mask_bt, (0, index))
            q_slot_t = index + jnp.arange(t)
            k_slot_s = jnp.arange(cache["mask"].shape[1])
        causal_ts = k_slot_s[None, :] <= q_slot_t[:, None]
        mask_bts = key_mask_bs[:, None, :] & causal_ts[None]

        lora_layers = lora_lib.stacked_lora(lora, self.lora_cfg)
        scale = lora_lib.scale(self.lora_cfg) if lora_layers else 0.0
        dropout = self.lora_cfg.dropout if (lora_layers and dropout_key is not None) else 0.0
        kv = None if cache is None else (cache["k"], cache["v"])
        shared = (sin_bth, cos_bth, mask_bts, index, dropout_key)

        if self.unrolled:
            new_k, new_v = [], []
            for i in range(cfg.num_hidden_layers):
                layer = DecoderLayer(cfg, scale, dropout, self.param_dtype, name=f"layer_{i}")
                lora_i = (
                    lora_layers[i]
                    if isinstance(lora_layers, tuple)
                    else jax.tree.map(lambda a: a[i], lora_layers)
                )
                kv_i = None if kv is None else (kv[0][i], kv[1][i])
                x_btd, kv_i = layer(x_btd, lora_i, jnp.int32(i), kv_i, *shared)
                if kv_i is not None:
                    new_k.append(kv_i[0])
                    new_v.append(kv_i[1])
            new_kv = None if kv is None else (tuple(new_k), tuple(new_v))
        else:
            layer_cls = nn.remat(DecoderLayer, prevent_cse=False) if self.remat else DecoderLayer
            layers = nn.scan(
                layer_cls,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                in_axes=(0, 0, 0) + (nn.broadcast,) * 5,
                length=cfg.num_hidden_layers,
            )(cfg, scale, dropout, self.param_dtype, name="layers")
            x_btd, new_kv = layers(
                x_btd, lora_layers, jnp.arange(cfg.num_hidden_layers), kv, *shared
            )

        h_btd = rms_norm(x_btd, _param(self, "final_norm", cfg.hidden_size), cfg.rms_norm_eps)
        head = (
            {"embed": embed_vd}
            if cfg.tie_word_embeddings
            else {"lm_head": _param(self, "lm_head", cfg.hidden_size, cfg.vocab_size)}
        )
        new_cache = None
        if cache is not None:
            new_cache = {
                "k": new_kv[0],
                "v": new_kv[1],
                "mask": key_mask_bs,
                "index": index + t,
            }
        if return_hidden:
            return h_btd, new_cache
        return lm_head(head, cfg, h_btd), new_cache


def unstack_layers(params: Params) -> Params:
    """The unrolled layout of `params` (see `Qwen2`): `layers` [L, ...] becomes
    `layer_0` ... `layer_{L-1}`. Other leaves are shared, not copied; the layer
    weights are (one copy, made once before a decode loop, not per step)."""
    if "layers" not in params:
        return params
    layers = params["layers"]
    n = jax.tree.leaves(layers)[0].shape[0]
    out = {k: v for k, v in params.items() if k != "layers"}
    for i in range(n):
        out[f"layer_{i}"] = jax.tree.map(lambda x: x[i], layers)
    return out


def unstack_cache(cache: Cache) -> Cache:
    """k/v [L, B, K, S, H] -> tuples of L [B, K, S, H] (the unrolled layout)."""
    if isinstance(cache["k"], tuple):
        return cache
    split = lambda x: tuple(x[i] for i in range(x.shape[0]))
    return {**cache, "k": split(cache["k"]), "v": split(cache["v"])}


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
    """Runs the decoder on a (left-)padded batch: `Qwen2.apply` with `params`.

    Args:
      tokens_bt: int token ids; pad slots may hold any id.
      positions_bt: RoPE positions, explicit so left padding works
        (`cumsum(mask) - 1` for a prompt; continuing counts while decoding).
      mask_bt: 1 for real tokens, 0 for padding. Padded keys are never attended
        to; outputs at padded queries are finite garbage.
      lora / lora_cfg: optional adapter pytree; `lora=None` is the frozen base
        model (the GRPO reference policy).
      params: the stacked layout, or the unrolled one from `unstack_layers`
        (then the cache, if any, must be unrolled too: `unstack_cache`).
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
    unrolled = "layers" not in params
    if cache is not None and unrolled != isinstance(cache["k"], tuple):
        raise ValueError("params and cache are in different layouts; see unstack_layers")
    if isinstance(lora, tuple) and not unrolled:
        raise ValueError("per-layer LoRA (lora.per_layer) needs the unrolled params layout")
    model = Qwen2(
        cfg,
        lora_cfg=lora_cfg,
        remat=cfg.remat if remat is None else remat,
        unrolled=unrolled,
    )
    return model.apply(
        {"params": params},
        tokens_bt,
        positions_bt,
        mask_bt,
        lora=lora,
        cache=cache,
        return_hidden=return_hidden,
        dropout_key=dropout_key,
    )


def lm_head(params: Params, cfg: Qwen2Config, h_btd: jax.Array) -> jax.Array:
    """fp32 logits [..., V] from final-normed hidden states (tied or untied)."""
    if cfg.tie_word_embeddings:
        return jnp.einsum(
            "...d,vd->...v", h_btd, params["embed"], preferred_element_type=jnp.float32
        )
    return jnp.einsum("...d,dv->...v", h_btd, params["lm_head"], preferred_element_type=jnp.float32)
