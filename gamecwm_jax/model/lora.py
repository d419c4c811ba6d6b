"""Low-rank adapters (LoRA) as a separate pytree next to the frozen base.

    y = x @ W + (dropout(x) @ A @ B) * alpha / rank

The base params are never copied or modified: `forward(params, ..., lora=...)`
adds the low-rank delta on the fly, and `lora=None` is the untouched base model,
which GRPO uses as its reference policy without a second copy of the weights.
B starts at zero, so a fresh adapter leaves the model's outputs unchanged.

Layout (stacked over layers like the base params, so it rides the same scan):

  lora[target] = {"a": [L, D_in, r], "b": [L, r, D_out]}   target in TARGETS
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, Any]

# Canonical target names (short) and the HF module names accepted as aliases.
TARGETS: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
TARGET_INDEX: dict[str, int] = {t: i for i, t in enumerate(TARGETS)}
_ALIASES: dict[str, tuple[str, ...]] = {
    **{t: (t, f"{t}_proj") for t in TARGETS},
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "all": TARGETS,
    "attn": ("q", "k", "v", "o"),
    "mlp": ("gate", "up", "down"),
}

_WEIGHTS_FILE = "adapter.safetensors"
_CONFIG_FILE = "adapter_config.json"


def resolve_targets(targets: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Expands target patterns to canonical names, in TARGETS order.

    Each entry may be a canonical name ("q"), an HF name ("q_proj"), a group
    ("attn", "mlp", "all") or an fnmatch glob ("*_proj", "[qv]"). An entry that
    matches nothing is an error: a typo would otherwise silently train no
    adapter at all.
    """
    if isinstance(targets, str):
        targets = (targets,)
    chosen: set[str] = set()
    for pattern in targets:
        hits = set(_GROUPS.get(pattern, ()))
        for name, aliases in _ALIASES.items():
            if any(fnmatch.fnmatchcase(a, pattern) for a in aliases):
                hits.add(name)
        if not hits:
            raise ValueError(
                f"LoRA target {pattern!r} matched no module; valid targets: "
                f"{', '.join(TARGETS)} (or *_proj names, 'attn', 'mlp', 'all', globs)"
            )
        chosen |= hits
    if not chosen:
        raise ValueError("LoRA targets are empty")
    return tuple(t for t in TARGETS if t in chosen)


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    """Adapter hyper-parameters (frozen: usable as a jit static argument)."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    targets: tuple[str, ...] = TARGETS

    def __post_init__(self):
        object.__setattr__(self, "targets", resolve_targets(tuple(self.targets)))
        if self.rank <= 0:
            raise ValueError(f"LoRA rank must be positive, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")


def scale(lora_cfg: LoraConfig) -> float:
    return lora_cfg.alpha / lora_cfg.rank


def stacked_lora(
    lora: Params | tuple[Params, ...] | None, lora_cfg: LoraConfig | None
) -> Params | tuple[Params, ...]:
    """The per-target {a, b} dict that `forward` scans over ({} without LoRA), or the
    per-layer dicts of `per_layer` (the unrolled decode loop), checked."""
    if lora is None:
        return {}
    if lora_cfg is None:
        raise ValueError("lora params were given without a lora_cfg")
    names = set().union(*lora) if isinstance(lora, tuple) else set(lora)
    unknown = names - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown LoRA targets in params: {sorted(unknown)}")
    return lora


def per_layer(lora: Params) -> tuple[Params, ...]:
    """Stacked [L, ...] adapter leaves as L per-layer dicts. Split once before a decode
    loop, as `qwen2.unstack_layers` splits the weights, so each step reads every layer's
    A and B in place instead of slicing them out of the stack again."""
    n = jax.tree.leaves(lora)[0].shape[0]
    return tuple(jax.tree.map(lambda x: x[i], lora) for i in range(n))


def lora_delta(
    x: jax.Array, ab: Params, scale_: float, dropout: float, key: jax.Array | None
) -> jax.Array:
    """(dropout(x) @ A @ B) * scale, computed in x's dtype.

    Goes through the rank-r bottleneck first so the cost is O(r (D_in + D_out))
    per token; A and B are cast to the activation dtype so fp32 adapters can
    drive a bf16 base. The gradient is `low_rank`'s hand-written one.
    """
    if key is not None and dropout > 0.0:
        keep = jax.random.bernoulli(key, 1.0 - dropout, x.shape)
        x = jnp.where(keep, x / (1.0 - dropout), 0).astype(x.dtype)
    return low_rank(x, ab["a"].astype(x.dtype), ab["b"].astype(x.dtype), float(scale_))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def low_rank(x_nd: jax.Array, a_dr: jax.Array, b_ro: jax.Array, scale_: float) -> jax.Array:
    """(x @ A @ B) * scale for x [..., D_in], with the same products as autodiff's
    gradient, written out so the adapter gradients come out in their own layout.

    Autodiff's rule for `xa @ B` contracts the tokens of the [..., D_out] cotangent
    into [D_out, r] and transposes that; XLA:CPU then copies each layer's cotangent
    into the layout its dot wants (the "transposing copies" of the README's profile).
    Here dB = (scale xa)^T dy and dA = x^T (scale dy B^T) are contracted straight into
    [r, D_out] and [D_in, r], and the scale is applied on the rank-r side. Values and
    gradients equal autodiff's up to rounding order (tests/model/test_lora.py).
    """
    return _low_rank_fwd(x_nd, a_dr, b_ro, scale_)[0]


def _low_rank_fwd(x_nd, a_dr, b_ro, scale_):
    xa_nr = x_nd @ a_dr
    y_no = (xa_nr @ b_ro) * jnp.asarray(scale_, x_nd.dtype)
    return y_no, (x_nd, a_dr, b_ro, xa_nr)


def _low_rank_bwd(scale_, residuals, dy_no):
    x_nd, a_dr, b_ro, xa_nr = residuals
    s = jnp.asarray(scale_, dy_no.dtype)
    tokens = tuple(range(dy_no.ndim - 1))  # every leading axis is summed over
    contract = ((tokens, tokens), ((), ()))
    g_nr = (dy_no @ b_ro.T) * s  # d loss / d (x @ A)
    dx_nd = g_nr @ a_dr.T
    da_dr = jax.lax.dot_general(x_nd, g_nr, contract)
    db_ro = jax.lax.dot_general(xa_nr * s, dy_no, contract)
    return dx_nd, da_dr, db_ro


low_rank.defvjp(_low_rank_fwd, _low_rank_bwd)


def init_lora(
    key: jax.Array, params: Params, cfg: Any, lora_cfg: LoraConfig, dtype: Any = jnp.float32
) -> Params:
    """Fresh adapter for every targeted projection of every layer.

    A ~ U(-1/sqrt(D_in), 1/sqrt(D_in)) (PEFT's default), B = 0, so the model
    is unchanged at init. Logs how many modules were adapted.
    """
    layers = params["layers"]
    lora: Params = {}
    for t in resolve_targets(lora_cfg.targets):
        w = layers.get(f"{t}_w")
        if w is None:
            raise ValueError(f"LoRA target {t!r} has no weight '{t}_w' in params['layers']")
        n_layers, d_in, d_out = w.shape
        bound = 1.0 / np.sqrt(d_in)
        a = jax.random.uniform(
            jax.random.fold_in(key, TARGET_INDEX[t]),
            (n_layers, d_in, lora_cfg.rank),
            jnp.float32,
            -bound,
            bound,
        )
        lora[t] = {"a": a.astype(dtype), "b": jnp.zeros((n_layers, lora_cfg.rank, d_out), dtype)}
    logging.info(
        "LoRA: adapted %d modules (%d layers x %s), %d trainable params",
        lora_module_count(lora),
        cfg.num_hidden_layers,
        list(lora),
        sum(int(x.size) for x in jax.tree.leaves(lora)),
    )
    return lora


def lora_module_count(lora: Params) -> int:
    """Number of adapted linear layers (targets x layers)."""
    return sum(int(ab["a"].shape[0]) for ab in lora.values())


def merge_lora(params: Params, lora: Params, lora_cfg: LoraConfig) -> Params:
    """Base params with W + scale * A @ B folded in (for export / fast sampling).

    Only the adapted leaves are new arrays; all others are shared with `params`.
    """
    layers = dict(params["layers"])
    s = scale(lora_cfg)
    for t, ab in lora.items():
        w = layers[f"{t}_w"]
        delta = jnp.einsum("lir,lro->lio", ab["a"].astype(jnp.float32), ab["b"].astype(jnp.float32))
        layers[f"{t}_w"] = (w.astype(jnp.float32) + s * delta).astype(w.dtype)
    return {**params, "layers": layers}


def save_lora(path: str, lora: Params, lora_cfg: LoraConfig) -> None:
    """Writes `path/adapter.safetensors` (fp32) and `path/adapter_config.json`."""
    from safetensors.numpy import save_file

    os.makedirs(path, exist_ok=True)
    tensors = {
        f"{t}.{m}": np.asarray(jnp.asarray(x, jnp.float32))
        for t, ab in lora.items()
        for m, x in ab.items()
    }
    dtypes = {str(jnp.asarray(x).dtype) for ab in lora.values() for x in ab.values()}
    meta = {
        **dataclasses.asdict(lora_cfg),
        "targets": list(lora_cfg.targets),
        "dtype": dtypes.pop() if len(dtypes) == 1 else "float32",
        "format": "gamecwm_jax.lora.v1",
    }
    save_file(tensors, os.path.join(path, _WEIGHTS_FILE))
    with open(os.path.join(path, _CONFIG_FILE), "w") as f:
        json.dump(meta, f, indent=2)


def load_lora(path: str) -> tuple[Params, LoraConfig]:
    """Reads an adapter written by `save_lora`; returns (lora, lora_cfg)."""
    from safetensors import safe_open

    cfg_path, w_path = os.path.join(path, _CONFIG_FILE), os.path.join(path, _WEIGHTS_FILE)
    for p in (cfg_path, w_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"LoRA adapter file missing: {p}")
    with open(cfg_path) as f:
        meta = json.load(f)
    lora_cfg = LoraConfig(
        rank=int(meta["rank"]),
        alpha=float(meta["alpha"]),
        dropout=float(meta.get("dropout", 0.0)),
        targets=tuple(meta["targets"]),
    )
    dtype = jnp.dtype(meta.get("dtype", "float32"))
    lora: Params = {}
    try:
        with safe_open(w_path, framework="numpy") as f:
            for t in lora_cfg.targets:
                lora[t] = {m: jnp.asarray(f.get_tensor(f"{t}.{m}"), dtype) for m in ("a", "b")}
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"cannot read LoRA adapter {w_path}: {e}") from e
    return lora, lora_cfg
