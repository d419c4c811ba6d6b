"""Bad input fails fast with a clear message and loses nothing."""

import errno
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from gamecwm_jax.games import UnknownGameError
from gamecwm_jax.games.registry import resolve_games
from gamecwm_jax.train import checkpoint as ckpt_lib
from gamecwm_jax.train import config as config_lib
from gamecwm_jax.train import setup

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_config_file_typo_is_reported_with_a_suggestion():
    c = config_lib.default_config()
    c.rl.grop_size = 4  # a typo in a config file adds a key the schema lacks
    with pytest.raises(config_lib.ConfigError, match=r"rl\.grop_size.*Did you mean rl\.group_size"):
        config_lib.validate(c)
    c = config_lib.default_config()
    c.rl.loss = "drgrpo"
    with pytest.raises(config_lib.ConfigError, match="dr_grpo"):
        config_lib.validate(c)


def test_cli_typo_exits_2_with_hint_before_writing_anything(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gamecwm_jax.rl",
            "--config",
            "configs/small_cpu.py",
            f"--config.workdir={workdir}",
            "--config.rl.grop_size=4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "config.rl.grop_size" in proc.stderr and "config.rl.group_size" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not workdir.exists()


def test_missing_model_directory(tmp_path):
    c = config_lib.default_config()
    c.workdir = str(tmp_path)
    c.model.path = str(tmp_path / "no_such_model")
    with pytest.raises(setup.SetupError, match="(?s)does not exist.*huggingface-cli download"):
        setup.load_model(c)


def test_unknown_game_lists_suggestions():
    with pytest.raises(UnknownGameError, match="Did you mean tic_tac_toe"):
        resolve_games("tic_tac_to,matching_pennies")


def test_unwritable_workdir(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(setup.SetupError, match="not writable"):
        setup.check_writable(str(blocker / "workdir"))


def test_run_main_turns_expected_errors_into_one_line(capsys):
    def bad():
        raise setup.SetupError("model directory 'x' does not exist")

    with pytest.raises(SystemExit) as e:
        setup.run_main(bad)
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "error: model directory 'x' does not exist"


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), every=1, keep=2)
    state = {"w": jnp.arange(3.0), "step": jnp.int32(1)}
    ck.save(1, state, {"step": 1})

    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck.manager, "save", disk_full)
    with pytest.raises(
        ckpt_lib.CheckpointSaveError, match="No space left.*checkpoint \\(1\\) is intact"
    ):
        ck.save(2, {"w": jnp.arange(3.0) + 1, "step": jnp.int32(2)}, {"step": 2})
    assert ck.latest_step() == 1
    restored, meta = ck.restore(state)
    assert meta["step"] == 1 and float(restored["w"][2]) == 2.0


def test_partial_save_is_ignored_on_restart(tmp_path):
    """A save killed half-way leaves an orbax tmp dir; the restart resumes from the last full one."""
    d = str(tmp_path / "ckpt")
    ck = ckpt_lib.Checkpointer(d, every=1, keep=3)
    state = {"w": jnp.arange(3.0), "step": jnp.int32(1)}
    ck.save(1, state, {"step": 1})
    ck.close()
    partial = os.path.join(d, "2.orbax-checkpoint-tmp-1234")
    os.makedirs(os.path.join(partial, "state"))
    open(os.path.join(partial, "state", "junk"), "w").write("half a checkpoint")
    ck = ckpt_lib.Checkpointer(d, every=1, keep=3)
    assert ck.latest_step() == 1
    restored, meta = ck.restore(state)
    assert meta["step"] == 1
