"""The device mesh and where every array lives on it: the one place for sharding.

Why SPMD and not a home-made scheme: every jitted function (the model, the sampler's
prefill / decode, the SFT and GRPO steps) stays the single-device program. Its inputs
are placed on a `jax.sharding.Mesh` with `NamedSharding`s, and XLA's partitioner
inserts the collectives ("computation follows data"). Inside the model a few
`constrain` hints pin the layout of activations and of the KV cache where XLA's
propagation could otherwise choose a worse one; they are no-ops without a mesh.

Mesh axes (config `mesh.data`, `mesh.fsdp`, `mesh.tensor`, in that order, so the
innermost axis `tensor` gets the fastest links, `mesh_utils.create_device_mesh`):

  data    batch rows; every device holds all base weights. Communication: the LoRA
          gradient is all-reduced once per update.
  fsdp    batch rows too, and the base weights are split along the model width D.
          Each layer's weights are all-gathered right before use (again in the
          backward pass, which rematerialises the layer): weight bytes per pass.
  tensor  attention heads, MLP columns and the vocabulary are split (Megatron): each
          layer's attention and MLP outputs are all-reduced: activation bytes.

Logical axes: each array names its dimensions ("batch", "embed", "heads", ...);
`RULES` maps a logical name to mesh axes, and `spec` turns a shape plus logical
names into a `PartitionSpec`. A mesh axis is dropped (the dimension replicated along
it) where the dimension does not divide evenly, e.g. 4 KV heads on `tensor=8`:
still correct, just less sharded. Training batches must divide exactly; that is
checked up front (`check_rows`) with a message saying what to change.

LoRA and the optimizer state are replicated: at rank 16 they are ~0.5% of a 7B
model's bytes, so sharding them would save little and cost a gather per step.

Multi-host (`jax.distributed`): one process per host, all running the same program
on the global mesh. Sampled rows are sharded over the whole mesh; `to_host` brings a
global array to every host; a host verifies its own block of rows (`process_rows`)
and `allgather_rows` shares the rewards for the group advantages (`rl.verify_own_rows`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

AXES: tuple[str, ...] = ("data", "fsdp", "tensor")

# Logical axis -> mesh axes, in order. Names not listed are never sharded
# (layers, length, head_dim, norm scales, LoRA rank, the activations' width D).
RULES: dict[str, tuple[str, ...]] = {
    "batch": ("data", "fsdp"),  # rows of batches, activations and the KV cache
    "embed": ("fsdp",),  # the model width D of a base weight: FSDP
    "heads": ("tensor",),  # query heads (q_w columns, o_w rows, attention)
    "kv_heads": ("tensor",),  # key/value heads (k_w / v_w columns, the KV cache)
    "mlp": ("tensor",),  # MLP width F
    "vocab": ("tensor",),  # vocabulary of embed / lm_head
}

# Logical names of each base weight's dimensions (the layout of qwen2.param_shapes).
# q_w's columns are N heads x H: sharded by whole heads when N divides (`units`).
PARAM_AXES: dict[str, Any] = {
    "embed": ("vocab", "embed"),
    "final_norm": (None,),
    "lm_head": ("embed", "vocab"),
    "layers": {
        "attn_norm": (None, None),
        "mlp_norm": (None, None),
        "q_w": (None, "embed", "heads"),
        "q_b": (None, "heads"),
        "k_w": (None, "embed", "kv_heads"),
        "k_b": (None, "kv_heads"),
        "v_w": (None, "embed", "kv_heads"),
        "v_b": (None, "kv_heads"),
        "o_w": (None, "heads", "embed"),
        "gate_w": (None, "embed", "mlp"),
        "up_w": (None, "embed", "mlp"),
        "down_w": (None, "mlp", "embed"),
    },
}

# The KV cache [L, B, K, S, H] (one layer's slice drops the L).
CACHE_AXES = (None, "batch", "kv_heads", None, None)
LAYER_CACHE_AXES = CACHE_AXES[1:]


class MeshError(ValueError):
    """Mesh sizes that do not fit the devices, or a batch that does not divide over them."""


# ----------------------------------------------------------------------------- the mesh


def resolve_sizes(data: int, fsdp: int, tensor: int, n_devices: int) -> tuple[int, int, int]:
    """Axis sizes with at most one -1 replaced by the devices left over; the product
    must be exactly `n_devices` (an idle device is a mistake, not a choice)."""
    sizes = {"data": int(data), "fsdp": int(fsdp), "tensor": int(tensor)}
    bad = {k: v for k, v in sizes.items() if v == 0 or v < -1}
    if bad:
        raise MeshError(f"mesh sizes must be positive or -1 (the devices left over), got {bad}")
    free = [k for k, v in sizes.items() if v == -1]
    if len(free) > 1:
        raise MeshError(f"only one mesh axis may be -1, got {free} = -1")
    fixed = math.prod(v for v in sizes.values() if v != -1)
    if free:
        if n_devices % fixed:
            raise MeshError(
                f"mesh {_fmt(sizes)}: the fixed axes use {fixed} devices, which does not "
                f"divide the {n_devices} devices available"
            )
        sizes[free[0]] = n_devices // fixed
    if math.prod(sizes.values()) != n_devices:
        raise MeshError(
            f"mesh {_fmt(sizes)} needs {math.prod(sizes.values())} devices, but "
            f"{n_devices} are available; make data x fsdp x tensor = {n_devices} "
            f"(or set one axis to -1)"
        )
    return sizes["data"], sizes["fsdp"], sizes["tensor"]


def _fmt(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def make_mesh(
    data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[Any] | None = None
) -> Mesh:
    """The (data, fsdp, tensor) mesh over `devices` (default: all of them, every host).

    The default puts every device on `data`, so one device is a 1x1x1 mesh and
    behaves exactly as the unsharded program. Axes are `Auto`: XLA propagates
    shardings from the inputs and the `constrain` hints.
    """
    devices = list(jax.devices() if devices is None else devices)
    shape = resolve_sizes(data, fsdp, tensor, len(devices))
    try:
        from jax.experimental import mesh_utils

        grid = mesh_utils.create_device_mesh(shape, devices=devices)
    except (ValueError, NotImplementedError, AssertionError):  # odd shapes on some topologies
        grid = np.asarray(devices, dtype=object).reshape(shape)
    return Mesh(grid, AXES, axis_types=(AxisType.Auto,) * len(AXES))


def current_mesh() -> Mesh | None:
    """The mesh of the enclosing `jax.set_mesh` (the entry points set one around a
    run), or None outside one."""
    mesh = jax.sharding.get_mesh()
    return None if mesh.empty or not set(AXES) <= set(mesh.axis_names) else mesh


def row_shards(mesh: Mesh | Mapping[str, int]) -> int:
    """How many ways batch rows are split (data x fsdp)."""
    shape = getattr(mesh, "shape", mesh)
    return math.prod(shape.get(a, 1) for a in RULES["batch"])


def check_rows(n: int, mesh: Mesh, what: str) -> None:
    """`n` rows of `what` must split evenly over the mesh's row shards."""
    k = row_shards(mesh)
    if n % k:
        raise MeshError(
            f"{what}={n} does not divide evenly over the mesh's {k} row shards "
            f"(mesh.data={mesh.shape['data']} x mesh.fsdp={mesh.shape['fsdp']}); make it a "
            f"multiple of {k} or change mesh.data / mesh.fsdp"
        )


def describe(mesh: Mesh) -> str:
    return (
        f"mesh {_fmt(mesh.shape)} over {mesh.devices.size} {mesh.devices.flat[0].platform} devices"
    )


# ----------------------------------------------------------------------------- specs


def spec(
    shape: Sequence[int],
    logical: Sequence[str | None],
    mesh_shape: Mapping[str, int],
    units: Mapping[str, int] | None = None,
) -> PartitionSpec:
    """PartitionSpec of an array whose dimensions have the `logical` names.

    Each dimension takes the mesh axes `RULES` gives its name, in order, as long as
    their product divides the dimension (and `units[name]`, e.g. the number of heads
    packed into a q_w column dimension, so heads are never split); size-1 axes and
    axes already used by an earlier dimension are skipped.
    """
    if len(shape) != len(logical):
        raise ValueError(f"shape {tuple(shape)} and logical axes {tuple(logical)} differ in rank")
    units = units or {}
    used: set[str] = set()
    parts: list[Any] = []
    for dim, name in zip(shape, logical):
        keep: list[str] = []
        for a in RULES.get(name, ()) if name else ():
            size = mesh_shape.get(a, 1)
            if size == 1 or a in used:
                continue
            k = math.prod(mesh_shape[x] for x in keep) * size
            if dim % k or units.get(name, dim) % k:
                break
            keep.append(a)
        used.update(keep)
        parts.append(None if not keep else keep[0] if len(keep) == 1 else tuple(keep))
    while parts and parts[-1] is None:
        parts.pop()
    return PartitionSpec(*parts)


def constrain(x: jax.Array, logical: Sequence[str | None]) -> jax.Array:
    """`with_sharding_constraint` by logical names under the mesh of `jax.set_mesh`;
    the identity when no mesh is set (single-device code paths, tests)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or not set(AXES) <= set(mesh.axis_names):
        return x
    return jax.lax.with_sharding_constraint(x, spec(x.shape, logical, mesh.shape))


def _is_axes(x: Any) -> bool:
    return isinstance(x, tuple) and all(a is None or isinstance(a, str) for a in x)


def param_specs(params: Any, cfg: Any, mesh: Mesh) -> Any:
    """PartitionSpecs for the base weights (any pytree shaped like qwen2.param_shapes,
    of arrays or ShapeDtypeStructs; `layer_{i}` unrolled layouts are not placed)."""
    units = {"heads": cfg.num_attention_heads, "kv_heads": cfg.num_key_value_heads}

    def one(axes: tuple, x: Any) -> PartitionSpec:
        return spec(x.shape, axes, mesh.shape, units)

    axes = {k: v for k, v in PARAM_AXES.items() if k in params}
    return jax.tree.map(one, axes, params, is_leaf=_is_axes)


def param_shardings(params: Any, cfg: Any, mesh: Mesh) -> Any:
    return jax.tree.map(
        lambda p: NamedSharding(mesh, p),
        param_specs(params, cfg, mesh),
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


# ----------------------------------------------------------------------------- placement


def put(x: Any, sharding: NamedSharding) -> jax.Array:
    """One array onto the mesh. Multi-host: every process passes the same (global)
    value and contributes the shards its devices hold."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def shard_params(params: Any, cfg: Any, mesh: Mesh) -> Any:
    """Base weights FSDP-sharded over `fsdp` and split by heads / MLP columns / vocab
    over `tensor` (PARAM_AXES x RULES)."""
    return jax.tree.map(put, params, param_shardings(params, cfg, mesh))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every leaf whole on every device (LoRA, optimizer state, PRNG key, step)."""
    sh = replicated(mesh)
    return jax.tree.map(lambda x: put(x, sh), tree)


def shard_rows(
    tree: Any, mesh: Mesh, row_axis: int = 0, what: str = "batch rows", strict: bool = True
) -> Any:
    """A batch with its rows (`row_axis`) split over data x fsdp; None leaves stay None.
    strict: raise MeshError when the rows do not divide evenly; otherwise split them as
    far as they divide (`spec`), e.g. the few distinct prompts of a GRPO micro-batch."""

    def one(x: Any) -> Any:
        if x is None:
            return None
        if strict:
            check_rows(x.shape[row_axis], mesh, what)
        logical = [None] * np.ndim(x)
        logical[row_axis] = "batch"
        return put(x, NamedSharding(mesh, spec(np.shape(x), logical, mesh.shape)))

    return jax.tree.map(one, tree, is_leaf=lambda x: x is None)


def abstract(tree: Any, shardings: Any) -> Any:
    """ShapeDtypeStructs carrying shardings: what `jit(...).lower` compiles for a mesh
    without allocating a byte (the per-device memory estimates)."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
    )


# ----------------------------------------------------------------------------- hosts


def cluster_detected(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process was launched as one of several (so `jax.distributed`
    must connect them): an explicit coordinator, or a SLURM / MPI / multi-host TPU
    launch with more than one task."""
    env = os.environ if env is None else env
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return True
    for key in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        if int(env.get(key, "1") or 1) > 1:
            return True
    return len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1


def initialize_distributed(mode: str = "auto", env: Mapping[str, str] | None = None) -> bool:
    """Connects the hosts (`jax.distributed.initialize()`, which reads the coordinator,
    process count and id from the launcher's environment); must run before any other
    JAX call. mode: "auto" (only when `cluster_detected`), "on", "off". Returns
    whether it initialised."""
    if mode not in ("auto", "on", "off"):
        raise MeshError(f"mesh.distributed={mode!r} is not one of auto, on, off")
    if mode == "off" or (mode == "auto" and not cluster_detected(env)):
        return False
    jax.distributed.initialize()
    logging.info(
        "jax.distributed: process %d of %d, %d local / %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
    return True


def is_main_process() -> bool:
    """Process 0 writes logs, adapters and exports (orbax coordinates checkpoints itself)."""
    return jax.process_index() == 0


def to_host(x: Any) -> np.ndarray:
    """The whole value of a (possibly sharded, possibly multi-host) array as numpy, on
    every process."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def process_rows(n: int, index: int | None = None, count: int | None = None) -> slice:
    """The contiguous block of `n` rows this process verifies (equal blocks; `n` must
    divide, which `check_rows` on prompts per step guarantees for whole groups)."""
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
    if n % count:
        raise MeshError(f"{n} rows do not split evenly over {count} processes")
    per = n // count
    return slice(index * per, (index + 1) * per)


def allgather_rows(x_local: np.ndarray) -> np.ndarray:
    """Concatenates every process's `process_rows` block, in process order (identity
    with one process)."""
    if jax.process_count() == 1:
        return np.asarray(x_local)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(x_local), tiled=True))
