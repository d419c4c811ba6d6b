"""Tiny random Qwen2 checkpoints shared by the model, sampler and CLI tests."""

import os

import pytest

from gamecwm_jax.model import testing


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> str:
    """Tied-embedding tiny checkpoint (+ tokenizer) saved once per session."""
    return testing.make_tiny_qwen2(str(tmp_path_factory.mktemp("tiny_tied")), tie=True)


@pytest.fixture(scope="session")
def tiny_ckpt_untied(tmp_path_factory) -> str:
    return testing.make_tiny_qwen2(str(tmp_path_factory.mktemp("tiny_untied")), tie=False, seed=1)


@pytest.fixture(scope="session", params=["tied", "untied"])
def any_ckpt(request, tiny_ckpt, tiny_ckpt_untied) -> str:
    return tiny_ckpt if request.param == "tied" else tiny_ckpt_untied


def pytest_configure(config):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
