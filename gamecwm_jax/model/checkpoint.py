"""Streaming loader for Hugging Face Qwen2 safetensors checkpoints.

Tensors are read one at a time through `safe_open` (memory-mapped), converted
to the target dtype, transposed into our `x @ w` layout and stacked per leaf,
so peak host memory stays near one copy of the model plus one stacked leaf.
Every tensor's shape is checked against the config before use, so a wrong or
partial checkpoint fails loudly with the offending tensor/file named instead of
producing silently wrong logits.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import jax
import jax.numpy as jnp

from gamecwm_jax import parallel
from gamecwm_jax.model.config import Qwen2Config
from gamecwm_jax.model.qwen2 import LAYER_HF_NAMES, Params, param_shapes

_INDEX_FILE = "model.safetensors.index.json"
_SINGLE_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint directory is missing files or holds inconsistent tensors."""


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not s.startswith((".", "/", "~"))
        and not os.path.exists(s)
    )


def resolve_checkpoint(path_or_hub_id: str, download_dir: str = "checkpoints") -> str:
    """Returns a local checkpoint directory, downloading a hub id if needed.

    A hub id ("Qwen/Qwen2.5-3B-Instruct") maps to `download_dir/<name>`; an
    existing complete download is reused without touching the network.
    """
    if os.path.isdir(path_or_hub_id):
        return path_or_hub_id
    if not _looks_like_hub_id(path_or_hub_id):
        raise FileNotFoundError(f"checkpoint directory {path_or_hub_id!r} does not exist")
    local = os.path.join(download_dir, path_or_hub_id.split("/")[1])
    if os.path.isfile(os.path.join(local, "config.json")):
        return local
    hint = (
        f"Download it on a machine with network access, e.g.\n"
        f"  huggingface-cli download {path_or_hub_id} --local-dir {local}\n"
        f"and pass --model {local}."
    )
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(
            repo_id=path_or_hub_id,
            local_dir=local,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "tokenizer*", "*.model"],
        )
    except Exception as e:  # offline, unknown repo, auth, ...
        raise RuntimeError(
            f"could not download {path_or_hub_id!r} ({type(e).__name__}: {e}).\n{hint}"
        ) from e
    return local


def _weight_map(ckpt_dir: str) -> dict[str, str]:
    """Tensor name -> safetensors file (single-file or sharded checkpoints)."""
    index = os.path.join(ckpt_dir, _INDEX_FILE)
    if os.path.isfile(index):
        with open(index) as f:
            try:
                weight_map = json.load(f)["weight_map"]
            except (json.JSONDecodeError, KeyError) as e:
                raise CheckpointError(f"{index} is not a valid safetensors index: {e}") from e
        return {k: os.path.join(ckpt_dir, v) for k, v in weight_map.items()}
    single = os.path.join(ckpt_dir, _SINGLE_FILE)
    if not os.path.isfile(single):
        raise FileNotFoundError(f"{ckpt_dir} has neither {_SINGLE_FILE} nor {_INDEX_FILE}")
    with _open(single) as f:
        return {name: single for name in f.keys()}


def _open(path: str):
    """safe_open with a clear error for missing or truncated/corrupt files."""
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise FileNotFoundError(f"safetensors file missing: {path}")
    try:
        return safe_open(path, framework="flax")
    except Exception as e:
        raise CheckpointError(
            f"cannot read safetensors file {path} (truncated or corrupt?): {e}"
        ) from e


def _host_device() -> Any:
    """The host's CPU device, where a sharded load assembles each leaf (None if the
    CPU backend is not enabled, e.g. JAX_PLATFORMS=tpu)."""
    try:
        return jax.local_devices(backend="cpu")[0]
    except RuntimeError:
        return None


def load_pretrained(
    path_or_hub_id: str,
    dtype: Any = jnp.bfloat16,
    download_dir: str = "checkpoints",
    mesh: "jax.sharding.Mesh | None" = None,
) -> tuple[Qwen2Config, Params]:
    """Loads (config, params) from an HF Qwen2 checkpoint dir or hub id.

    With a device `mesh`, the leaves are assembled on the host CPU and only then
    placed onto the mesh with their shardings (parallel.PARAM_AXES), so no
    accelerator ever holds more than its shards: a 14B model (30 GB) loads onto
    16 GB chips (the host needs one copy in RAM).

    Raises FileNotFoundError for a missing directory/config/weights file and
    CheckpointError (a ValueError) naming the tensor or file for missing,
    wrong-shaped or unreadable tensors.
    """
    ckpt_dir = resolve_checkpoint(path_or_hub_id, download_dir)
    if not os.path.isfile(os.path.join(ckpt_dir, "config.json")):
        raise FileNotFoundError(f"{ckpt_dir} has no config.json (not a Hugging Face checkpoint?)")
    cfg = Qwen2Config.from_hf_json(ckpt_dir)
    weight_map = _weight_map(ckpt_dir)
    shapes = param_shapes(cfg)
    host = _host_device() if mesh is not None else None

    with contextlib.ExitStack() as stack:
        if host is not None:
            stack.enter_context(jax.default_device(host))
        handles: dict[str, Any] = {}

        def read(name: str, expected: tuple[int, ...], transpose: bool) -> jax.Array:
            """One tensor, shape-checked, as `dtype` in our layout."""
            file = weight_map.get(name)
            if file is None:
                raise CheckpointError(f"tensor {name!r} missing from checkpoint {ckpt_dir}")
            if file not in handles:
                handles[file] = stack.enter_context(_open(file))
            hf_shape = tuple(reversed(expected)) if transpose else tuple(expected)
            try:
                got = tuple(handles[file].get_slice(name).get_shape())
            except Exception as e:
                raise CheckpointError(f"tensor {name!r} missing from {file}: {e}") from e
            if got != hf_shape:
                raise CheckpointError(
                    f"tensor {name!r} in {file} has shape {got}, expected {hf_shape} from config.json"
                )
            try:
                x = handles[file].get_tensor(name)
            except Exception as e:
                raise CheckpointError(f"cannot read tensor {name!r} from {file}: {e}") from e
            x = x.astype(dtype)
            return x.T if transpose else x

        params: Params = {
            "embed": read("model.embed_tokens.weight", shapes["embed"], False),
            "final_norm": read("model.norm.weight", shapes["final_norm"], False),
        }
        if not cfg.tie_word_embeddings:
            params["lm_head"] = read("lm_head.weight", shapes["lm_head"], True)
        layers = {}
        for leaf, (suffix, transpose) in LAYER_HF_NAMES.items():
            per_layer = shapes["layers"][leaf][1:]
            layers[leaf] = jnp.stack(
                [
                    read(f"model.layers.{i}.{suffix}", per_layer, transpose)
                    for i in range(cfg.num_hidden_layers)
                ]
            )
        params["layers"] = layers
        if mesh is not None:
            params = parallel.shard_params(params, cfg, mesh)
    return cfg, params
