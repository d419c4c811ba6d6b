"""One warm verifier pool for the whole tests/verify session."""

import pytest

from gamecwm_jax.verify import RewardConfig, Verifier

# Reduced budgets (fewer rollouts), the same checks.
FAST = RewardConfig.fast()


@pytest.fixture(scope="session")
def verifier():
    with Verifier(num_workers=2, config=FAST) as v:
        yield v
