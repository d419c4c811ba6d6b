"""Sharded training and sampling give the single-device results (gamecwm_jax/parallel.py).

The comparisons need 8 devices; XLA_FLAGS must be set before JAX starts, and the rest
of the suite runs on one device under pytest-xdist, so `tests/mesh_cases.py` computes
everything once in a fresh interpreter with 8 forced host devices and these tests
compare its numbers. The pure pieces (mesh sizes, specs, config checks) run here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from gamecwm_jax import parallel
from gamecwm_jax.train.config import ConfigError, default_config, validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = "1x1x1"
MESHES = ["8x1x1", "2x4x1", "2x2x2", "1x1x8"]
TOL = 1e-5


def forced_devices_env(n: int) -> dict[str, str]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """mesh_cases' numbers, computed once per test run: under pytest-xdist the workers
    share the run's base directory and the first to take the lock computes them."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, shared by its workers
    out = root / "mesh_cases.npz"
    with open(root / "mesh_cases.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            tmp = root / "mesh_cases.partial.npz"
            proc = subprocess.run(
                [sys.executable, "-m", "tests.mesh_cases", str(tmp)],
                cwd=ROOT,
                env=forced_devices_env(8),
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr[-5000:]
            os.replace(tmp, out)
    return dict(np.load(out))


def _leaves(d: dict, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)}


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= TOL * max(1.0, abs(want))


@pytest.mark.parametrize("mesh", MESHES)
@pytest.mark.parametrize("case", ["sft", "grpo"])
def test_one_step_equals_single_device(results, mesh, case):
    """Loss, gradient norm and the updated LoRA after one step on the mesh equal the
    one-device step within 1e-5 (fp32; the sums run in another order): SFT (two
    micro-batches, and every gradient entry too) and GRPO (the trainer's pure update:
    shared prompts, LoRA-off reference pass with beta > 0, padding rows, a scan over
    micro-batches whose rows are split over data x fsdp)."""
    r = results
    assert _close(r[f"{mesh}/{case}/loss"], r[f"{REF}/{case}/loss"])
    assert _close(r[f"{mesh}/{case}/grad_norm"], r[f"{REF}/{case}/grad_norm"])
    want_g = _leaves(r, f"{REF}/{case}/grad[")
    got_g = _leaves(r, f"{mesh}/{case}/grad[")
    assert got_g.keys() == want_g.keys() and len(want_g) == (14 if case == "sft" else 0)
    scale = max([1.0] + [float(np.abs(g).max()) for g in want_g.values()])
    for k, g in want_g.items():
        np.testing.assert_allclose(got_g[k], g, rtol=0, atol=TOL * scale, err_msg=k)
    want, got = _leaves(r, f"{REF}/{case}/lora"), _leaves(r, f"{mesh}/{case}/lora")
    assert got.keys() == want.keys()
    for k, w in want.items():
        np.testing.assert_allclose(got[k], w, rtol=0, atol=TOL, err_msg=k)


@pytest.mark.parametrize("mesh", MESHES)
def test_greedy_sampling_gives_the_same_tokens(results, mesh):
    """Greedy decoding (4 prompts of different lengths x 2 samples, KV cache split by
    rows and KV heads) picks the same tokens on every mesh."""
    r = results
    np.testing.assert_array_equal(r[f"{mesh}/greedy/tokens"], r[f"{REF}/greedy/tokens"])
    np.testing.assert_array_equal(r[f"{mesh}/greedy/lengths"], r[f"{REF}/greedy/lengths"])
    np.testing.assert_allclose(
        r[f"{mesh}/greedy/logprobs"], r[f"{REF}/greedy/logprobs"], rtol=0, atol=1e-4
    )
    assert r[f"{REF}/greedy/lengths"].max() > 4  # a real decode loop ran


def test_weights_are_really_sharded(results):
    """Per-device shards of q_w [L, D, N*H] and k_w [L, D, K*H] (D = 64, 8 query and 4
    KV heads of 8): D split over fsdp, heads over tensor; on tensor = 8 the 4 KV heads
    do not split and stay whole (replicated), still correct."""
    shards = {m: (tuple(results[f"{m}/layout/q_w_shard"]), tuple(results[f"{m}/layout/k_w_shard"]))
              for m in [REF] + MESHES}  # fmt: skip
    assert shards == {
        "1x1x1": ((2, 64, 64), (2, 64, 32)),
        "8x1x1": ((2, 64, 64), (2, 64, 32)),
        "2x4x1": ((2, 16, 64), (2, 16, 32)),
        "2x2x2": ((2, 32, 32), (2, 32, 16)),
        "1x1x8": ((2, 64, 8), (2, 64, 32)),
    }


def test_checkpoint_saved_on_one_mesh_resumes_on_another(results):
    """Step 1 on 2x2x2, saved; restored on 1x1x8 and on one device: the restored state
    is bit-identical to the saved one, and step 2 from it lands where two uninterrupted
    steps on one device do."""
    r = results
    saved = _leaves(r, "ckpt/saved/state")
    want = _leaves(r, "ckpt/uninterrupted/state")
    assert len(saved) > 20  # lora, both Adam moments, counts, rng
    for target in ("1x1x8", "1x1x1"):
        assert int(r[f"ckpt/{target}/start"]) == 1
        restored = _leaves(r, f"ckpt/{target}/restored")
        assert restored.keys() == saved.keys()
        for k, v in saved.items():
            np.testing.assert_array_equal(restored[k], v, err_msg=k)
        got = _leaves(r, f"ckpt/{target}/state")
        for k, v in want.items():
            np.testing.assert_allclose(got[k], v, rtol=TOL, atol=TOL, err_msg=f"{target} {k}")
        assert _close(r[f"ckpt/{target}/loss"], r["ckpt/uninterrupted/loss"])


# ----------------------------------------------------------------------------- pure pieces


def test_mesh_sizes_resolve_and_fail_clearly():
    assert parallel.resolve_sizes(-1, 1, 1, 8) == (8, 1, 1)
    assert parallel.resolve_sizes(2, -1, 2, 8) == (2, 2, 2)
    assert parallel.resolve_sizes(-1, 1, 1, 1) == (1, 1, 1)  # the default on one device
    with pytest.raises(parallel.MeshError, match="needs 6 devices, but 8 are available"):
        parallel.resolve_sizes(2, 3, 1, 8)
    with pytest.raises(parallel.MeshError, match="does not divide the 8 devices"):
        parallel.resolve_sizes(-1, 3, 1, 8)
    with pytest.raises(parallel.MeshError, match="only one mesh axis may be -1"):
        parallel.resolve_sizes(-1, -1, 1, 8)


def test_one_device_mesh_is_the_unsharded_program():
    """The default mesh on one device replicates everything: today's program."""
    import jax.numpy as jnp

    from gamecwm_jax.model import Qwen2Config, init_params

    mesh = parallel.make_mesh(devices=jax.devices()[:1])
    assert dict(mesh.shape) == {"data": 1, "fsdp": 1, "tensor": 1}
    cfg = Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)  # fmt: skip
    params = init_params(jax.random.PRNGKey(0), cfg, jnp.float32)
    specs = jax.tree.leaves(
        parallel.param_specs(params, cfg, mesh), is_leaf=lambda x: isinstance(x, P)
    )
    assert len(specs) == 15 and all(s == P() for s in specs)


def test_specs_follow_the_rules_and_fall_back_where_sizes_do_not_divide():
    m = {"data": 2, "fsdp": 4, "tensor": 2}
    assert parallel.spec((8, 16), ("batch", None), m) == P(("data", "fsdp"))
    assert parallel.spec((6, 16), ("batch", None), m) == P("data")  # 6 rows: data only
    assert parallel.spec((3, 16), ("batch", None), m) == P()
    # q_w [L, D, N*H]: D over fsdp, columns over tensor only when the heads divide
    assert parallel.spec((2, 64, 48), (None, "embed", "heads"), m, {"heads": 6}) == P(
        None, "fsdp", "tensor"
    )
    assert parallel.spec((2, 64, 48), (None, "embed", "heads"), m, {"heads": 3}) == P(None, "fsdp")
    # size-1 axes never appear: one device (or a pure data mesh) replicates the weights
    assert (
        parallel.spec((2, 64, 48), (None, "embed", "heads"), {"data": 8, "fsdp": 1, "tensor": 1})
        == P()
    )


def test_batches_that_do_not_divide_are_refused_with_what_to_change():
    mesh = {"data": 2, "fsdp": 2, "tensor": 2}

    class FakeMesh:
        shape = mesh

    with pytest.raises(
        parallel.MeshError, match=r"rl.prompts_per_step=6 .* 4 row shards .*multiple of 4"
    ):
        parallel.check_rows(6, FakeMesh(), "rl.prompts_per_step")
    parallel.check_rows(8, FakeMesh(), "rl.prompts_per_step")


def test_mesh_config_is_validated():
    c = default_config()
    assert (c.mesh.data, c.mesh.fsdp, c.mesh.tensor) == (-1, 1, 1)
    validate(c)
    c.mesh.fsdp = -1
    with pytest.raises(ConfigError, match="only one axis may be -1"):
        validate(c)
    c.mesh.fsdp, c.mesh.tensor = 1, 0
    with pytest.raises(ConfigError, match="positive integers or -1"):
        validate(c)
    c.mesh.tensor, c.mesh.distributed = 1, "maybe"
    with pytest.raises(ConfigError, match="mesh.distributed"):
        validate(c)


def test_multi_host_plumbing():
    assert not parallel.cluster_detected({})
    assert not parallel.cluster_detected({"SLURM_NTASKS": "1", "TPU_WORKER_HOSTNAMES": "a"})
    assert parallel.cluster_detected({"SLURM_NTASKS": "2"})
    assert parallel.cluster_detected({"TPU_WORKER_HOSTNAMES": "h0,h1,h2,h3"})
    assert parallel.cluster_detected({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
    assert not parallel.initialize_distributed("auto", env={})  # one host: nothing to connect
    assert [parallel.process_rows(16, i, 4) for i in range(4)] == [
        slice(0, 4),
        slice(4, 8),
        slice(8, 12),
        slice(12, 16),
    ]
    with pytest.raises(parallel.MeshError):
        parallel.process_rows(6, 0, 4)
    np.testing.assert_array_equal(parallel.allgather_rows(np.arange(3)), np.arange(3))
    assert parallel.is_main_process()


# ----------------------------------------------------------------------------- commands


def _run(args: list[str], devices: int, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=forced_devices_env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bad_mesh_and_batches_fail_before_anything_is_loaded(tmp_path):
    """A mesh that does not use the 4 devices, or prompts that do not split over its
    rows: one clear line, exit status 2, nothing written but the workdir probe."""
    base = ["gamecwm_jax.rl", "--config", "configs/small_cpu.py", f"--config.workdir={tmp_path}"]
    p = _run(base + ["--config.mesh.data=3"], 4, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "mesh data=3, fsdp=1, tensor=1 needs 3 devices, but 4 are available" in p.stderr
    p = _run(base + ["--config.mesh.data=4", "--config.rl.prompts_per_step=2"], 4, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert (
        "config.rl.prompts_per_step=2 does not divide evenly over the mesh's 4 row shards"
        in p.stderr
    )
    assert not os.path.exists(tmp_path / "base_model")


def test_memory_estimate_per_device_on_a_mesh(tmp_path):
    """`bench.train --memory_only --mesh` compiles the update and sampling programs for
    the mesh from shapes alone; the figures are per device (weights split 4 ways)."""
    import json

    out = tmp_path / "mem.json"
    argv = "gamecwm_jax.bench.train --preset tiny --memory_only --group 4 --prompt_len 16"
    argv += " --new_tokens 16 --chunk 8 --micro_batches 4 --attn_block 8 --mesh 2,2,2"
    argv += f" --prompts 2 --device_gib 1 --json {out}"
    p = _run(argv.split(), 8, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["mesh"] == {"data": 2, "fsdp": 2, "tensor": 2} and res["per_device"]
    assert res["sampling_gib"]["decode"]["total"] > 0
    assert res["fits"]["fits"] and res["fits"]["peak_gib"] >= res["fits"]["update_gib"]
    from gamecwm_jax.bench.sampler import TINY
    from gamecwm_jax.model import param_shapes

    shapes = jax.tree.leaves(param_shapes(TINY), is_leaf=lambda x: isinstance(x, tuple))
    whole = sum(int(np.prod(s)) * 4 for s in shapes)  # fp32
    assert whole / 5 < res["weights_bytes"] < whole / 2  # most leaves split 4 ways


@pytest.mark.slow
def test_the_issue_command_runs_on_four_devices(tmp_path):
    """`python -m gamecwm_jax.rl --config configs/small_cpu.py --config.mesh.data=2
    --config.mesh.tensor=2` on 4 forced host devices (fewer steps, so it is quick):
    SFT, GRPO and the export run on the mesh and finish."""
    p = _run(
        [
            "gamecwm_jax.rl",
            "--config",
            "configs/small_cpu.py",
            "--config.mesh.data=2",
            "--config.mesh.tensor=2",
            f"--config.workdir={tmp_path}",
            "--config.sft.steps=3",
            "--config.rl.steps=2",
            "--config.eval.at_end=False",
            "--config.log.progress=False",
        ],
        4,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "mesh data=2, fsdp=1, tensor=2 over 4 cpu devices" in p.stderr
    assert os.path.isfile(tmp_path / "rl" / "adapter" / "adapter.safetensors")
    assert os.path.isdir(tmp_path / "export" / "merged")


def test_each_host_verifies_its_own_rows(monkeypatch):
    """`rl.verify_own_rows`: a host scores only its block of rows, and the rewards of
    all rows come back in order (two hosts simulated by hand: process 1's view, with
    process 0's rewards arriving through the gather)."""
    from gamecwm_jax import rl
    from tests.train.fixtures import FakeVerifier

    items = [(f"program {i}", "tic_tac_toe") for i in range(8)]
    want = [r.score for r in FakeVerifier().verify_batch(items, seed=5)]
    reports, rewards = rl.verify_own_rows(FakeVerifier(), items, seed=5)  # one host
    assert len(reports) == 8 and rewards.tolist() == want

    seen = {}

    class Counting(FakeVerifier):
        def verify_batch(self, batch, seed=0):
            seen["rows"] = [t for t, _ in batch]
            return super().verify_batch(batch, seed)

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(
        parallel, "allgather_rows", lambda local: np.concatenate([np.asarray(want[:4]), local])
    )
    reports, rewards = rl.verify_own_rows(Counting(), items, seed=5)
    assert seen["rows"] == [f"program {i}" for i in range(4, 8)] and len(reports) == 4
    assert rewards.tolist() == want
