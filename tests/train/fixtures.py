"""A very small run config and a deterministic fake verifier for the trainer tests."""

import dataclasses
import os
import zlib

import pytest

from gamecwm_jax.train.config import default_config

GAMES = "tic_tac_toe,matching_pennies"


def tiny_config(workdir: str):
    """small_cpu-like, scaled down so a GRPO step takes well under a second."""
    c = default_config()
    c.workdir = workdir
    c.model.path = "tiny-random"
    c.model.dtype = "float32"
    c.model.remat = False
    c.model.tiny.update(
        dict(
            vocab_size=512,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    c.data.train_games = GAMES
    c.data.prompt_style = "name"
    c.sft.epochs, c.sft.steps = 0.0, 0
    c.sft.batch_size, c.sft.grad_accum, c.sft.bucket, c.sft.lr = 2, 1, 32, 1e-2
    c.sft.lora.update(dict(rank=4, alpha=8.0, dropout=0.0, targets="q,v"))
    c.rl.update(
        dict(
            steps=4,
            prompts_per_step=2,
            group_size=2,
            micro_batch_size=2,
            lr=5e-2,
            max_new_tokens=12,
            max_prompt_len=128,
            logprob_chunk=8,
            beta=0.1,
            temperature=1.0,
            curriculum=False,
            max_grad_norm=1.0,
        )
    )
    c.rl.lora.update(dict(rank=4, alpha=8.0, targets="q,v"))
    c.verify.num_workers, c.verify.fast = 1, True
    c.checkpoint.every, c.checkpoint.keep = 2, 3
    c.log.tensorboard, c.log.progress, c.log.plot_every = True, False, 2
    c.export.at_end, c.export.dtype = False, "float32"
    return c


@dataclasses.dataclass
class FakeReport:
    score: float
    tiers: dict
    failure: object = None


class FakeVerifier:
    """Deterministic pseudo-rewards from the completion text, so groups differ."""

    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def verify_batch(self, items, seed=0):
        out = []
        for text, game in items:
            s = (zlib.crc32(f"{text}|{game}|{seed}".encode()) % 1000) / 999.0
            out.append(FakeReport(s, {"static": s, "dynamics": 1.0 - s, "information": None}))
        return out


@pytest.fixture
def fake_verifier(monkeypatch):
    from gamecwm_jax import rl

    monkeypatch.setattr(rl, "make_verifier", lambda config: FakeVerifier())
    return FakeVerifier


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The generated tiny model, built once and copied into each test's workdir."""
    from gamecwm_jax.train import setup

    root = tmp_path_factory.mktemp("tiny_base")
    c = tiny_config(str(root))
    return setup.build_tiny_model(os.path.join(str(root), "base_model"), c.model.tiny)


@pytest.fixture
def workdir(tmp_path, tiny_model_dir):
    import shutil

    shutil.copytree(tiny_model_dir, tmp_path / "base_model")
    return str(tmp_path)
