"""Trainer fixtures (defined in fixtures.py so tests outside tests/train import them too)."""

from tests.train.fixtures import fake_verifier, tiny_model_dir, workdir  # noqa: F401
