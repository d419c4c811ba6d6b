"""The verifier: a model completion -> a score in [0, 1] and a report.

    from gamecwm_jax.verify import Verifier, RewardConfig, verify
    with Verifier(num_workers=None, config=RewardConfig()) as v:
        reports = v.verify_batch([(completion, "tic_tac_toe"), ...], seed=0)
        rewards = [r.score for r in reports]

Candidates run in sandboxed, forked children of warm zygote workers (`sandbox.py`,
`_worker.py`); the golden runs only here, in the trusted process (`plan.py`), and the tiers
are scored here from plain data (`score.py`). `python -m gamecwm_jax.verify FILE --game NAME`
verifies a file; `python -m gamecwm_jax.verify.mutants` runs the mutation tests.
"""

from gamecwm_jax.verify.config import TIERS, RewardConfig
from gamecwm_jax.verify.score import Failure
from gamecwm_jax.verify.verifier import Report, Verifier, shared_verifier, verify

__all__ = ["TIERS", "Failure", "Report", "RewardConfig", "Verifier", "shared_verifier", "verify"]
