"""Weights, gates, budgets and limits of the verifier: one dataclass the trainer can fill."""

from __future__ import annotations

import dataclasses
from typing import Any

TIERS = ("static", "dynamics", "semantics", "scenarios", "information")


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """How a candidate is checked and how its tier scores become one reward in [0, 1].

    The reward is sum(weight * tier) / sum(weight) over the tiers that apply to the game
    (information only for imperfect-information games, scenarios only where the game has
    some). The seed's weights are the default (static 0.15, dynamics 0.25, information 0.30,
    scenarios 0.30); the differential `semantics` tier, which the seed lacks, enters with
    0.30, as much as scenarios (set it to 0 for the seed's reward exactly).
    """

    # --- weights -------------------------------------------------------------------------
    w_static: float = 0.15
    w_dynamics: float = 0.25
    w_semantics: float = 0.30
    w_scenarios: float = 0.30
    w_information: float = 0.30
    # --- gates (the seed's) --------------------------------------------------------------
    # A candidate lacking a required function scores only its static part.
    gate_incomplete_api: bool = True
    # Below this dynamics score, semantics / scenarios / information count as 0.
    gate_dynamics: float = 0.5
    # --- stub penalty --------------------------------------------------------------------
    # Stubbed interface functions ('pass', '...', NotImplementedError, a constant return):
    # the information tier is 0 (the seed's rule) and the reward is multiplied by
    # (1 - stub_penalty).
    stub_penalty: float = 0.5
    # TODO / FIXME / "placeholder" / "implement" markers without stubbed bodies.
    marker_penalty: float = 0.1
    # --- how the semantics and information tiers are made up -----------------------------
    # Share of the semantics tier taken by candidate-driven rollouts (is every action the
    # candidate calls legal legal for the golden?); the rest is golden-driven comparison.
    semantics_candidate_share: float = 0.25
    # Share of the information tier taken by the observation-leak check (the rest is
    # resample_history).
    information_leak_share: float = 0.5
    # --- budgets -------------------------------------------------------------------------
    # Replay the game's coverage suite (games/<game>/coverage.json) in the semantics tier,
    # after the random golden-driven games (False: random games only, as before).
    coverage_suites: bool = True
    dynamics_rollouts: int = 12  # candidate-driven random games
    semantics_rollouts: int = 24  # golden-driven random games
    resample_queries: int = 32  # (history prefix, player) pairs for resample_history
    resample_samples: int = 2  # calls of resample_history per pair (it may be random)
    # Actions replayed by resample checks (pairs x samples x mean game length) at most;
    # long games get fewer samples and pairs (never fewer than 2 pairs per player).
    resample_step_budget: int = 1200
    leak_pairs: int = 400  # pairs of states compared per kind (same / different view)
    # Actions per tier (all its rollouts together): long games get fewer rollouts, and
    # no rollout is longer than `max_rollout_steps` (then the length bound is not checked).
    step_budget: int = 600
    max_rollout_steps: int = 250
    min_rollouts: int = 2
    # --- sandbox limits (per candidate) ---------------------------------------------------
    timeout_s: float = 10.0  # wall clock for the whole candidate
    query_timeout_s: float = 3.0  # one rollout / trace / resample call
    memory_mb: int = 1024
    file_mb: int = 16  # largest file the candidate may write in its scratch dir
    output_mb: int = 64  # most result data accepted from one candidate

    def weights(self) -> dict[str, float]:
        return {t: getattr(self, f"w_{t}") for t in TIERS}

    def replace(self, **changes: Any) -> RewardConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Any) -> RewardConfig:
        """From a mapping (or an ml_collections ConfigDict); unknown keys are an error."""
        items = dict(values.items()) if hasattr(values, "items") else dict(values)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(items) - names
        if unknown:
            raise ValueError(f"unknown RewardConfig fields: {sorted(unknown)}")
        return cls(**items)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def fast(cls, **changes: Any) -> RewardConfig:
        """Smaller budgets (tests, quick checks): the same checks on fewer rollouts."""
        base = dict(
            dynamics_rollouts=6,
            semantics_rollouts=12,
            leak_pairs=200,
            step_budget=300,
            max_rollout_steps=150,
        )
        base.update(changes)
        return cls(**base)
