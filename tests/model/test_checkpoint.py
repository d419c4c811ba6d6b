"""Checkpoint loading: sharded files and clear errors for broken checkpoints."""

import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from gamecwm_jax.model import CheckpointError, load_pretrained
from gamecwm_jax.model.checkpoint import resolve_checkpoint
from gamecwm_jax.model.testing import jit_forward

forward = jit_forward()


def _copy(src, tmp_path, name="ckpt"):
    dst = str(tmp_path / name)
    shutil.copytree(src, dst)
    return dst


def _logits(cfg, params):
    tokens = jnp.arange(8, dtype=jnp.int32)[None]
    out, _ = forward(params, cfg, tokens, jnp.arange(8)[None], jnp.ones((1, 8)))
    return np.asarray(out)


def test_sharded_checkpoint_matches_single(tiny_ckpt, tmp_path):
    d = _copy(tiny_ckpt, tmp_path)
    tensors = load_file(os.path.join(d, "model.safetensors"))
    os.remove(os.path.join(d, "model.safetensors"))
    names = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": names[: len(names) // 2],
        "model-00002-of-00002.safetensors": names[len(names) // 2 :],
    }
    for file, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, os.path.join(d, file))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(
            {"metadata": {}, "weight_map": {k: file for file, ks in shards.items() for k in ks}}, f
        )
    np.testing.assert_array_equal(
        _logits(*load_pretrained(d, jnp.float32)), _logits(*load_pretrained(tiny_ckpt, jnp.float32))
    )


def test_missing_dir_and_config(tiny_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(str(tmp_path / "no_such_dir"))
    d = _copy(tiny_ckpt, tmp_path)
    os.remove(os.path.join(d, "config.json"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(d)


def test_missing_weights_file(tiny_ckpt, tmp_path):
    d = _copy(tiny_ckpt, tmp_path)
    os.remove(os.path.join(d, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_pretrained(d)


def test_missing_shard_file(tiny_ckpt, tmp_path):
    d = _copy(tiny_ckpt, tmp_path)
    tensors = load_file(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {k: "model-00001-of-00001.safetensors" for k in tensors}}, f)
    os.remove(os.path.join(d, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="model-00001-of-00001.safetensors"):
        load_pretrained(d)


def _edited_copy(src, tmp_path, edit):
    """Copy of a checkpoint whose tensor dict was changed in place by `edit`."""
    d = _copy(src, tmp_path)
    path = os.path.join(d, "model.safetensors")
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)
    return d


def test_wrong_shape_names_tensor(tiny_ckpt, tmp_path):
    name = "model.layers.1.mlp.up_proj.weight"
    d = _edited_copy(tiny_ckpt, tmp_path, lambda t: t.update({name: t[name][:-1]}))
    with pytest.raises(CheckpointError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*shape"):
        load_pretrained(d)


def test_missing_tensor_names_tensor(tiny_ckpt, tmp_path):
    d = _edited_copy(tiny_ckpt, tmp_path, lambda t: t.pop("model.layers.0.self_attn.k_proj.bias"))
    with pytest.raises(CheckpointError, match=r"model\.layers\.0\.self_attn\.k_proj\.bias"):
        load_pretrained(d)


def test_truncated_file(tiny_ckpt, tmp_path):
    d = _copy(tiny_ckpt, tmp_path)
    path = os.path.join(d, "model.safetensors")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated"):
        load_pretrained(d)


def test_hub_id_offline_gives_instructions(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(**kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(RuntimeError, match="huggingface-cli download Qwen/Qwen2.5-3B-Instruct"):
        resolve_checkpoint("Qwen/Qwen2.5-3B-Instruct", download_dir=str(tmp_path))
