"""Control runs: GRPO with the verifier's information removed from the advantages.

A rise of the reward could come from something other than the reward signal (a drift
that SFT set up, the optimizer's noise, the sampling temperature). The control run is
the same command with `--config.rl.control=shuffle`: each group's rewards are permuted
at random before the advantages are formed, so the update has the same size and the
same spread of advantages, but which sample gets which advantage is unrelated to the
verifier's verdict. `zero` removes the update altogether (every advantage 0). The
logged reward is always the true one, so run and control read off the same metric.
"""

from __future__ import annotations

import numpy as np


def control_rewards(
    rewards_n: np.ndarray, group_size: int, mode: str, seed: int, step: int
) -> np.ndarray:
    """The rewards the advantages are formed from, for `mode` none | shuffle | zero.

    shuffle: an independent permutation within each group, seeded by (seed, step), so
    a resumed run draws the same permutations. zero: every reward set to its group's
    mean (the group then has no spread and is dropped, as an equal-reward group is).
    """
    r_pg = np.asarray(rewards_n, np.float64).reshape(-1, group_size)
    if mode == "none":
        return r_pg.reshape(-1)
    if mode == "zero":
        return np.repeat(r_pg.mean(axis=1), group_size)
    if mode == "shuffle":
        rng = np.random.default_rng([int(seed), int(step), 0x5EED])
        return np.stack([row[rng.permutation(group_size)] for row in r_pg]).reshape(-1)
    raise ValueError(f"unknown control mode {mode!r} (none, shuffle, zero)")
