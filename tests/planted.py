"""The mutation check the project keeps: plant known bugs one at a time, see which tests catch them.

    python -m tests.planted                 # every plant: its named tests + its module's test files
    python -m tests.planted --only theta    # plants whose name contains "theta"
    python -m tests.planted --full          # the whole suite per plant (slow: ~15 min each)
    python -m tests.planted --list          # the plants and the tests meant to catch them
    python -m tests.planted --json out.json # also write the results as JSON

Each plant is a file, an exact piece of text in it, its replacement, and the tests meant
to catch it. The repository (tracked and untracked, not ignored, files) is copied once to
a temporary directory; each plant is applied there, the tests run, and the file is put
back. A plant is

  caught          a test named for it failed;
  caught-only-by-an-unrelated-test
                  tests failed, none of those named for it (caught by accident: the test
                  meant for it is missing or too weak);
  missed          every test passed;
  could-not-plant the old text is not in the file (exactly once): the code moved, so the
                  plant needs refreshing; reported, never a crash;
  timeout / error the test run did not finish, or pytest could not run the tests.

It lives in tests/, not in the package: it edits a source checkout and runs its tests,
neither of which an installed package has.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Plant:
    """One bug: replace `old` (must occur exactly once) by `new` in `path`."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (or files) meant to catch it
    why: str = ""


# The test files that cover each module; the default run adds them to a plant's own tests,
# so a plant caught only by an unrelated test of the same area shows up as such.
MODULE_TESTS: dict[str, tuple[str, ...]] = {
    "gamecwm_jax/rl.py": ("tests/test_rl.py", "tests/test_grpo_wiring.py"),
    "gamecwm_jax/sft.py": ("tests/test_sft.py",),
    "gamecwm_jax/generate.py": ("tests/test_generate.py",),
    "gamecwm_jax/sampler.py": ("tests/test_sampler.py",),
    "gamecwm_jax/model/qwen2.py": ("tests/model/test_qwen2.py",),
    "gamecwm_jax/model/lora.py": ("tests/model/test_lora.py",),
    "gamecwm_jax/train/losses.py": ("tests/train/test_losses.py",),
    "gamecwm_jax/train/step.py": ("tests/train/test_losses.py",),
    "gamecwm_jax/train/grpo.py": ("tests/test_rl.py", "tests/test_grpo_wiring.py"),
    "gamecwm_jax/train/logprobs.py": ("tests/train/test_logprobs.py",),
    "gamecwm_jax/train/metrics.py": (),
    "gamecwm_jax/train/checkpoint.py": (),
    "gamecwm_jax/verify/score.py": ("tests/verify/test_completions.py",),
    "gamecwm_jax/verify/_harness.py": ("tests/verify/test_completions.py",),
    "gamecwm_jax/verify/ranges.py": ("tests/verify/test_completions.py",),
}

E2E = "tests/test_grpo_wiring.py::test_one_grpo_step_equals_an_independent_computation"
PARITY = "tests/test_grpo_wiring.py::test_sampler_batch_and_trainer_logprobs_agree"
RESUME_RL = "tests/test_rl.py::test_kill_and_resume_equals_uninterrupted"
RESUME_SFT = "tests/test_sft.py::test_sft_killed_between_checkpoints_resumes_exactly"
RANGES = "tests/verify/test_ranges.py"
RANGES_BEHIND = RANGES + "::test_faults_behind_a_fault_the_golden_cannot_follow_still_cost"

PLANTS: tuple[Plant, ...] = (
    # --- the table of issue 14
    Plant(
        "kl_reference_with_current_lora",
        "gamecwm_jax/train/grpo.py",
        "lambda mb: micro_logprobs(params, None, mb, temperature, spec)[0], batch",
        "lambda mb: micro_logprobs(params, state.lora, mb, temperature, spec)[0], batch",
        (E2E,),
        "KL reference computed with the current LoRA instead of LoRA off",
    ),
    Plant(
        "old_logprobs_untempered",
        "gamecwm_jax/train/grpo.py",
        '"old_logp": (rollout.logprobs[rows_mr, :c_len]',
        '"old_logp": (rollout.logprobs_raw[rows_mr, :c_len]',
        (E2E, PARITY),
        "old log-probs (sampler, T = 1) and policy log-probs (T) at different temperatures",
    ),
    Plant(
        "policy_logprobs_untempered",
        "gamecwm_jax/train/grpo.py",
        "logp_rc, ent_rc = micro_logprobs(params, lora_, mb, temperature, spec, with_entropy=True)",
        "logp_rc, ent_rc = micro_logprobs(params, lora_, mb, 1.0, spec, with_entropy=True)",
        (E2E,),
        "the trained policy's log-probs at T = 1 while old and reference ones are at T",
    ),
    Plant(
        "gradient_not_divided",
        "gamecwm_jax/train/grpo.py",
        "grad = jax.tree.map(lambda g: g / jnp.maximum(den, 1e-9), grad_sum)",
        "grad = grad_sum",
        (E2E,),
        "accumulated gradient not divided by its denominator",
    ),
    Plant(
        "rope_theta_hard_coded",
        "gamecwm_jax/model/qwen2.py",
        "rope_sin_cos(positions_bt, cfg.head_dim, cfg.rope_theta)",
        "rope_sin_cos(positions_bt, cfg.head_dim, 10000.0)",
        ("tests/model/test_qwen2.py::test_logits_match_transformers",),
        "RoPE theta hard-coded to 10000 (Qwen2.5 uses 1e6)",
    ),
    Plant(
        "semantics_ignores_rewards",
        "gamecwm_jax/verify/score.py",
        '"r" not in c.get("err", {}) and _rewards_equal(c.get("r"), g["r"])',
        "True",
        (
            "tests/verify/test_tier_pins.py::test_wrong_mid_game_rewards_cost_the_whole_rewards_aspect",
        ),
        "semantics comparison ignores rewards",
    ),
    Plant(
        "candidate_games_ignore_the_goldens_spelling",
        "gamecwm_jax/verify/_harness.py",
        "pool = [a for a in legal if spelling_key(a) in known] or legal",
        "pool = legal",
        (
            "tests/verify/test_candidate_games.py::test_candidate_games_draw_moves_spelled_as_the_golden_spells_them",
            "tests/verify/test_candidate_games.py::test_wrong_rewards_behind_another_notation_still_cost",
        ),
        "candidate-driven games draw moves the golden has no name for too",
    ),
    Plant(
        "candidate_games_without_rejection_probes",
        "gamecwm_jax/verify/_harness.py",
        "_probe_step(module, state, step, legal, prefer, probe_rng)",
        "pass",
        (
            "tests/verify/test_candidate_games.py::test_candidate_games_probe_what_the_golden_rejects",
        ),
        "candidate-driven games never check that apply_action raises on illegal strings",
    ),
    Plant(
        "no_resample_on_candidate_games",
        "gamecwm_jax/verify/score.py",
        "if plan.resample_queries and isinstance(ro, dict):",
        "if False:",
        (
            "tests/verify/test_candidate_games.py::test_a_broken_resample_behind_another_notation_still_costs",
        ),
        "resample_history on the candidate's own games not scored",
    ),
    Plant(
        "resynced_step_not_charged",
        "gamecwm_jax/verify/score.py",
        "share = (t - sum(1 for c in charged if c < t)) / length",
        "share = t / length",
        (
            "tests/verify/test_candidate_games.py::test_one_move_more_is_followed_and_that_step_charged",
            "tests/verify/test_candidate_games.py::test_a_move_spelled_another_way_is_followed_and_that_step_charged",
        ),
        "a candidate game's step the golden explains only by another move, or one more, earns credit",
    ),
    Plant(
        "ladder_without_its_golden",
        "gamecwm_jax/bench/reward.py",
        '[base] + sorted((r["k"], r[key]) for r in rs) for c, rs in',
        'sorted((r["k"], r[key]) for r in rs) for c, rs in',
        ("tests/verify/test_faults.py::test_ladders_are_judged_one_by_one_and_pooled",),
        "a calibration ladder judged without its k = 0 rung (the golden at 1.0)",
    ),
    Plant(
        "trl_bench_prompts_differ",
        "gamecwm_jax/bench/train.py",
        "    c.data.use_system_prompt = shapes.system_prompt\n",
        "",
        ("tests/train/test_bench.py::test_trl_side_by_side_gives_both_trainers_the_same_prompts",),
        "our side of `--against trl` prompts with the project's system prompt, TRL's without",
    ),
    Plant(
        "aspect_weights_ignored",
        "gamecwm_jax/verify/score.py",
        "    gw = group_weights or {}\n    credit = sum(",
        "    gw = {}\n    credit = sum(",
        ("tests/verify/test_reward.py::test_aspects_weigh_as_configured",),
        "every semantics aspect weighs 1: wrong rewards cost as little as a wrong player",
    ),
    Plant(
        "verifier_drops_aspect_weights",
        "gamecwm_jax/verify/verifier.py",
        "            config.aspect_weights(),",
        "            None,",
        ("tests/verify/test_reward.py::test_the_verifier_applies_its_aspect_weights",),
        "the verifier scores semantics without the config's aspect weights",
    ),
    Plant(
        "reward_exponent_ignored",
        "gamecwm_jax/verify/verifier.py",
        "    return tier_mean(tiers, config) ** config.reward_exponent",
        "    return tier_mean(tiers, config)",
        (
            (
                "tests/verify/test_reward.py::"
                "test_the_reward_is_the_weighted_mean_of_the_tiers_to_the_configured_power"
            ),
        ),
        "the reward is the tiers' plain weighted mean whatever the config's exponent",
    ),
    Plant(
        "rescore_ignores_recorded_exponent",
        "gamecwm_jax/bench/reward.py",
        "    old = recorded.reward_exponent",
        "    old = 1.0",
        (
            (
                "tests/verify/test_faults.py::"
                "test_rescoring_a_recorded_run_equals_running_it_with_that_exponent"
            ),
        ),
        "`--from` rescoring takes every recorded run for one made with exponent 1",
    ),
    Plant(
        "guided_game_exact_spelling_only",
        "gamecwm_jax/verify/_harness.py",
        "scripted = wanted if wanted in legal else spelled_alike(wanted, legal)",
        "scripted = wanted if wanted in legal else None",
        (
            (
                "tests/verify/test_candidate_games.py::"
                "test_a_guided_game_plays_the_golden_game_through_another_notation"
            ),
        ),
        "a guided game leaves the golden's script at the first move in another notation",
    ),
    Plant(
        "resync_alike_first_ignored",
        "gamecwm_jax/verify/score.py",
        "alike = actions[t] if alike_first else None",
        "alike = None",
        ("tests/verify/test_candidate_games.py::test_resync_tries_the_move_spelled_alike_first",),
        "the resync tries the golden's moves in their order, not the one spelled alike first",
    ),
    Plant(
        "candidate_draws_exact_spellings_only",
        "gamecwm_jax/verify/_harness.py",
        "pool = [a for a in legal if spelling_key(a) in known] or legal",
        "pool = [a for a in legal if a in prefer] or legal",
        (
            (
                "tests/verify/test_candidate_games.py::"
                "test_candidate_games_draw_moves_spelled_as_the_golden_spells_them"
            ),
        ),
        "candidate games skip the moves in a notation of the candidate's own (and are "
        "steered into other games)",
    ),
    Plant(
        "information_reads_exact_spellings_only",
        "gamecwm_jax/verify/score.py",
        "            move = action if action in legal else _harness.spelled_alike(action, legal)",
        "            move = action if action in legal else None",
        (
            "tests/verify/test_candidate_games.py::test_a_leak_behind_another_notation_is_still_seen",
            (
                "tests/verify/test_candidate_games.py::"
                "test_a_broken_resample_behind_another_notation_still_costs"
            ),
        ),
        "the information tier stops reading a candidate's own game at its first renamed move",
    ),
    Plant(
        "leak_hides_position",
        "gamecwm_jax/verify/score.py",
        "    if cand_view == gold_view:\n        return True\n",
        "    return cand_view == gold_view\n",
        (
            (
                "tests/verify/test_candidate_games.py::"
                "test_one_move_more_behind_a_leak_is_followed_and_charged"
            ),
        ),
        "a view that shows more than the golden's hides the position: the golden cannot "
        "follow a leaking candidate through one move more",
    ),
    Plant(
        "verifier_drops_range_share",
        "gamecwm_jax/verify/verifier.py",
        "            config.semantics_range_share,",
        "            0.0,",
        (RANGES_BEHIND,),
        "the verifier never checks the candidate's states against the golden's ranges",
    ),
    Plant(
        "shape_ignores_list_length",
        "gamecwm_jax/verify/ranges.py",
        'return ("list", len(value), tuple(',
        'return ("list", 0, tuple(',
        (RANGES + "::test_shapes_tell_board_sizes_and_keys_apart_but_not_values", RANGES_BEHIND),
        "an observation's shape leaves out its lists' lengths: a larger board is in range",
    ),
    Plant(
        "range_rewards_end_and_mid_alike",
        "gamecwm_jax/verify/ranges.py",
        '    table = ranges.rewards_end if rec.get("p") == TERMINAL else ranges.rewards_mid\n',
        "    table = ranges.rewards_end | ranges.rewards_mid\n",
        (RANGES + "::test_step_credit_by_hand",),
        "a reward vector the golden gives only at its end counts as in range mid-game",
    ),
    Plant(
        "range_game_ignores_missing_states",
        "gamecwm_jax/verify/ranges.py",
        "sum(per_step) / max(length, len(cstates))",
        "sum(per_step) / len(cstates)",
        (RANGES + "::test_game_credit_counts_missing_states_and_the_end",),
        "a candidate game cut short by a crash is in range over the states it reached only",
    ),
    Plant(
        "range_counts_the_mean_where_the_golden_left",
        "gamecwm_jax/verify/score.py",
        'if ro.get("end") != "terminal" or reached >= steps or plan.ranges is None:',
        "if True:",
        (
            RANGES
            + "::test_a_game_the_golden_leaves_is_in_range_over_its_own_length_not_less_than_the_shortest",
        ),
        "a game the golden no longer follows, ended at a terminal of its own, is in range "
        "over the golden's mean length: a game that never ends earns more",
    ),
    Plant(
        "range_ignores_the_shortest_game",
        "gamecwm_jax/verify/score.py",
        "return max(steps, plan.ranges.shortest)",
        "return steps",
        (
            RANGES
            + "::test_a_game_the_golden_leaves_is_in_range_over_its_own_length_not_less_than_the_shortest",
        ),
        "a game over at once after a move the golden refuses is fully in range",
    ),
    Plant(
        "range_end_past_a_checked_bound",
        "gamecwm_jax/verify/score.py",
        'ended = ro.get("end") not in ("error", "stuck") and not (',
        'ended = ro.get("end") not in ("error", "stuck") or not (',
        (RANGES + "::test_a_game_past_a_checked_length_bound_fails_the_end_test",),
        "a game still going past max_game_length passes the range's end test",
    ),
    Plant(
        "range_end_rewards_from_traces_only",
        "gamecwm_jax/verify/plan.py",
        "for i in range(budget // max(steps, 1)):",
        "for i in range(0):",
        (RANGES + "::test_end_rewards_come_from_extra_golden_games_too",),
        "the range's end rewards come from the few golden-driven traces only",
    ),
    Plant(
        "board_size_fault_may_crash",
        "gamecwm_jax/verify/faults.py",
        "if edited is not None and _plays(edited):",
        "if edited is not None:",
        (
            "tests/verify/test_faults.py::test_board_size_is_a_playable_board_of_another_size",
            "tests/verify/test_faults.py::test_board_size_does_not_apply_where_no_size_plays",
        ),
        "the calibration's wrong board size is kept where it crashes the module",
    ),
    Plant(
        "metric_rows_kept_on_resume",
        "gamecwm_jax/train/metrics.py",
        'kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= start_step]',
        "kept = read_jsonl(self.path)",
        (RESUME_RL, RESUME_SFT),
        "metric rows after the last checkpoint kept on resume (duplicated steps)",
    ),
    Plant(
        "top_p_mass_untempered",
        "gamecwm_jax/sampler.py",
        "probs_rk = jax.nn.softmax(vals_rk, axis=-1)",
        "probs_rk = jax.nn.softmax(vals_rk * temperature, axis=-1)",
        ("tests/test_sampler.py::test_top_k_top_p_frequencies_at_temperature",),
        "top-p mass computed at another temperature (T = 1)",
    ),
    Plant(
        "generate_ignores_lora",
        "gamecwm_jax/generate.py",
        "        lora=lora,\n        lora_cfg=lora_cfg,",
        "        lora=None,\n        lora_cfg=None,",
        ("tests/test_generate.py::test_greedy_with_lora_equals_the_merged_checkpoint",),
        "`generate --lora` ignores the adapter",
    ),
    Plant(
        "lora_scale_sqrt_rank",
        "gamecwm_jax/model/lora.py",
        "return lora_cfg.alpha / lora_cfg.rank",
        "return lora_cfg.alpha / lora_cfg.rank**0.5",
        (E2E, "tests/train/test_export.py"),
        "LoRA scale alpha/sqrt(r) instead of alpha/r",
    ),
    Plant(
        "kl_direction",
        "gamecwm_jax/train/losses.py",
        "    d_bt = logp_ref_bt - logp_new_bt\n",
        "    d_bt = logp_new_bt - logp_ref_bt\n",
        ("tests/train/test_losses.py::test_policy_loss_and_grad_match_numpy", E2E),
        "k3 KL in the wrong direction",
    ),
    Plant(
        "clip_bounds_swapped",
        "gamecwm_jax/train/losses.py",
        "jnp.clip(ratio_bt, 1.0 - clip_eps_low, 1.0 + clip_eps_high)",
        "jnp.clip(ratio_bt, 1.0 - clip_eps_high, 1.0 + clip_eps_low)",
        ("tests/train/test_losses.py::test_policy_loss_and_grad_match_numpy", E2E),
        "clip bounds swapped",
    ),
    Plant(
        "prng_key_not_restored",
        "gamecwm_jax/train/checkpoint.py",
        'return ckpt, state["lora"], state["opt_state"], state["rng"], start',
        'return ckpt, state["lora"], state["opt_state"], rng, start',
        (RESUME_RL, RESUME_SFT),
        "PRNG key not restored on resume",
    ),
    Plant(
        "optimizer_state_not_restored",
        "gamecwm_jax/train/checkpoint.py",
        'return ckpt, state["lora"], state["opt_state"], state["rng"], start',
        'return ckpt, state["lora"], optimizer.init(state["lora"]), state["rng"], start',
        (RESUME_RL, RESUME_SFT),
        "optimizer state not restored on resume",
    ),
    # --- the GRPO fixes of issue 10 and the other wiring this suite now covers
    Plant(
        "kl_not_masked_before_exp",
        "gamecwm_jax/train/losses.py",
        "        d_bt = jnp.where(mask_bt > 0, d_bt, 0.0)\n",
        "        d_bt = d_bt\n",
        ("tests/train/test_losses.py::test_kl_at_padding_positions_cannot_poison_the_loss",),
        "k3 KL exp taken at padding positions (inf * 0 = NaN)",
    ),
    Plant(
        "old_logprobs_from_decode_path",
        "gamecwm_jax/rl.py",
        'old_logprobs="current" if rc.inner_steps == 1 else rc.old_logprobs,',
        "old_logprobs=rc.old_logprobs,",
        ("tests/test_rl.py::test_lr_follows_the_optimizer_count_and_one_update_has_ratio_one",),
        "with one update per batch, old log-probs from the sampler's decode path (bf16 ratio != 1)",
    ),
    Plant(
        "lr_logged_from_step_number",
        "gamecwm_jax/rl.py",
        "lr = float(schedule(update_count(state.opt_state)))",
        "lr = float(schedule(max((step - 1) * rc.inner_steps, 0)))",
        ("tests/test_rl.py::test_lr_follows_the_optimizer_count_and_one_update_has_ratio_one",),
        "lr logged from the step number, not the optimizer's update count",
    ),
    Plant(
        "equal_reward_groups_lose_kl",
        "gamecwm_jax/train/grpo.py",
        "    if beta > 0.0:\n        return np.ones(len(adv), bool)\n",
        "",
        (
            "tests/test_rl.py::test_zero_spread_groups_keep_their_kl_term_when_beta_is_positive",
            E2E,
        ),
        "groups with equal rewards dropped although beta > 0",
    ),
    Plant(
        "advantage_std_biased",
        "gamecwm_jax/train/losses.py",
        "ddof=1 if group_size > 1 else 0",
        "ddof=0",
        ("tests/train/test_losses.py::test_group_advantages", E2E),
        "group std without Bessel's correction (TRL uses the unbiased one)",
    ),
    Plant(
        "logprobs_read_one_position_early",
        "gamecwm_jax/train/logprobs.py",
        "h_pred_bcd = h_btd[:, prompt_len - 1 : -1]",
        "h_pred_bcd = h_btd[:, prompt_len - 2 : -2]",
        ("tests/train/test_logprobs.py::test_chunked_matches_full_logits",),
        "each completion token scored from the hidden state one position too early (SFT's and"
        " the menu probe's `[prompt | completion]` rows)",
    ),
    Plant(
        "shared_prompt_logprobs_one_position_early",
        "gamecwm_jax/train/logprobs.py",
        "h_pred_rcd = jnp.concatenate([h_utd[row_prompt_r, -1:], h_rcd[:, :-1]], axis=1)",
        "h_pred_rcd = jnp.concatenate([h_utd[row_prompt_r, -2:], h_rcd[:, :-2]], axis=1)",
        (E2E, PARITY),
        "each completion token scored one position too early on shared prompts (GRPO's rows)",
    ),
    Plant(
        "sampler_logprobs_swapped",
        "gamecwm_jax/sampler.py",
        "return token_r, logprob(scaled_rv), logprob(logits_rv)",
        "return token_r, logprob(logits_rv), logprob(scaled_rv)",
        (PARITY, "tests/test_sampler.py::test_logprobs_match_fresh_forward"),
        "the sampler reports untempered log-probs as the tempered ones",
    ),
    Plant(
        "curriculum_ignored",
        "gamecwm_jax/rl.py",
        "data_lib.Schedule(games, tiers, config.seed, rc.curriculum, rc.epochs_per_tier)",
        "data_lib.Schedule(games, tiers, config.seed, False, rc.epochs_per_tier)",
        ("tests/test_rl.py::test_curriculum_and_recomputed_old_logprobs",),
        "rl.curriculum ignored",
    ),
    Plant(
        "recompute_scores_the_reference",
        "gamecwm_jax/train/grpo.py",
        "lambda mb: micro_logprobs(params, lora0, mb, temperature, spec)[0], batch",
        "lambda mb: micro_logprobs(params, None, mb, temperature, spec)[0], batch",
        ("tests/test_rl.py::test_curriculum_and_recomputed_old_logprobs",),
        'old_logprobs="recompute" scores the LoRA-off model',
    ),
    Plant(
        "shared_prompt_positions_restart",
        "gamecwm_jax/train/logprobs.py",
        "positions_from_mask(full_mask_rt)[:, tp:],",
        "positions_from_mask(mask_rc),",
        (
            "tests/train/test_logprobs.py::test_shared_prompts_equal_repeated_rows_in_values_and_gradients",
            PARITY,
        ),
        "completions scored on a shared prompt's cache with RoPE positions restarting at 0",
    ),
    Plant(
        "completion_continues_the_wrong_prompt",
        "gamecwm_jax/train/grpo.py",
        "np.searchsorted(d, p) for d, p in zip(distinct, prompt_of_mr)",
        "np.zeros_like(p) for d, p in zip(distinct, prompt_of_mr)",
        (PARITY, E2E),
        "a micro-batch holding two groups scores every completion after its first prompt",
    ),
    Plant(
        "profile_autodiff_attention_not_swapped",
        "gamecwm_jax/bench/train.py",
        "        qwen2.grouped_attention = lambda q, k, v, m: qwen2._grouped_attention_fwd(q, k, v, m)[0]",
        "        pass",
        (
            "tests/train/test_bench.py::"
            "test_profile_variants_are_other_programs_with_the_same_gradients",
        ),
        "`--profile`'s autodiff-attention variant runs the hand-written backward (an A/B of a program with itself)",
    ),
    Plant(
        "attention_vjp_uncentred",
        "gamecwm_jax/model/qwen2.py",
        "ds_bkgts = p_bkgts * (dp_bkgts - centre_bkgt1) * (q_bkgth.shape[-1] ** -0.5)",
        "ds_bkgts = p_bkgts * dp_bkgts * (q_bkgth.shape[-1] ** -0.5)",
        (
            "tests/model/test_qwen2.py::"
            "test_grouped_attention_gradient_equals_autodiff_of_softmax_attention",
        ),
        "the recomputing attention backward leaves out the softmax's row centring",
    ),
    Plant(
        "lora_vjp_unscaled_b_grad",
        "gamecwm_jax/model/lora.py",
        "db_ro = jax.lax.dot_general(xa_nr * s, dy_no, contract)",
        "db_ro = jax.lax.dot_general(xa_nr, dy_no, contract)",
        ("tests/model/test_lora.py::test_low_rank_gradient_equals_autodiff_of_the_plain_formula",),
        "the hand-written LoRA backward leaves alpha / r out of B's gradient",
    ),
    Plant(
        "merged_sampling_drops_the_adapter",
        "gamecwm_jax/model/lora.py",
        'layers[f"{t}_w"] = (w.astype(jnp.float32) + s * delta).astype(w.dtype)',
        'layers[f"{t}_w"] = (w.astype(jnp.float32) + delta).astype(w.dtype)',
        ("tests/test_rl.py::test_merged_lora_sampling_draws_the_same_completions",),
        "GRPO samples from base + A @ B without the alpha / r scale",
    ),
)


def copy_repo(dst: Path) -> None:
    """Tracked and untracked (not ignored) files of the checkout, as they are on disk."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def failed_tests(junit: Path) -> list[str]:
    """Node ids (file::name[param]) of the failed or erroring test cases in a JUnit XML."""
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if any(child.tag in ("failure", "error") for child in case):
            module = case.get("classname", "").rsplit(".", 1)
            path = case.get("classname", "").replace(".", "/") + ".py"
            if len(module) == 2 and module[1][:1].isupper():  # a test class
                path = module[0].replace(".", "/") + ".py::" + module[1]
            out.append(f"{path}::{case.get('name')}")
    return out


def means(node: str, named: tuple[str, ...]) -> bool:
    """Whether failed test `node` is one of (or inside one of) the named tests/files."""
    return any(node == n or node.startswith(n + "::") or node.startswith(n + "[") for n in named)


def run_plant(
    plant: Plant, root: Path, full: bool, timeout: float, exitfirst: bool, named_only: bool
) -> dict:
    target = root / plant.path
    text = target.read_text() if target.is_file() else ""
    record = {"name": plant.name, "path": plant.path, "tests": list(plant.tests), "why": plant.why}
    count = text.count(plant.old)
    if count != 1:
        return {**record, "result": "could-not-plant", "detail": f"old text found {count} times"}
    target.write_text(text.replace(plant.old, plant.new))
    files = {t.split("::")[0] for t in plant.tests}
    extra = [f for f in MODULE_TESTS.get(plant.path, ()) if f not in files]
    selection = [] if full else [*plant.tests, *([] if named_only else extra)]
    junit = root / f".planted_{plant.name}.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    cmd += [f"--junitxml={junit}", *(["-n", "2"] if full else []), *(["-x"] if exitfirst else [])]
    cmd += selection
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)},
        )
    except subprocess.TimeoutExpired:
        return {**record, "result": "timeout", "seconds": round(time.monotonic() - start)}
    finally:
        target.write_text(text)
    seconds = round(time.monotonic() - start)
    if not junit.is_file() or proc.returncode not in (0, 1):
        tail = (proc.stdout + proc.stderr)[-600:]
        return {**record, "result": "error", "seconds": seconds, "detail": tail}
    failed = failed_tests(junit)
    junit.unlink()
    meant = [f for f in failed if means(f, plant.tests)]
    result = "caught" if meant else "caught-only-by-an-unrelated-test" if failed else "missed"
    return {**record, "result": result, "seconds": seconds, "failed": failed}


def check_copy_is_imported(root: Path) -> None:
    """The copy's package must be the one its tests import, or every plant would be missed."""
    where = subprocess.run(
        [sys.executable, "-c", "import gamecwm_jax, tests; print(gamecwm_jax.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    ).stdout.strip()
    if not where.startswith(str(root)):
        raise SystemExit(f"error: the copy imports gamecwm_jax from {where!r}, not {root}")


def table(results: list[dict]) -> str:
    lines = ["| planted bug | result | failed tests (named ones first) | s |", "|---|---|---|---|"]
    for r in results:
        failed = r.get("failed", [])
        named = [f for f in failed if means(f, tuple(r["tests"]))]
        shown = named + [f"({f})" for f in failed if f not in named]
        cell = ", ".join(f"`{f.split('/')[-1]}`" for f in shown[:4]) + (
            f" +{len(shown) - 4}" if len(shown) > 4 else ""
        )
        lines.append(
            f"| {r['why'] or r['name']} (`{r['name']}`) | {r['result']} | "
            f"{cell or r.get('detail', '')} | {r.get('seconds', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.planted", description=__doc__.split("\n")[0])
    p.add_argument("--only", default="", help="run the plants whose name contains this")
    p.add_argument("--full", action="store_true", help="the whole suite per plant (pytest -n 2)")
    p.add_argument("--list", action="store_true", help="list the plants and exit")
    p.add_argument(
        "--named-only",
        action="store_true",
        help="run only the tests named for each plant, not its module's test files (quick)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per plant")
    p.add_argument(
        "--all-failures",
        action="store_true",
        help="run every selected test even after one failed (default: stop at the first; the "
        "named tests run first, so a plant they catch costs only them)",
    )
    p.add_argument("--json", default="", help="write the results to this JSON file")
    args = p.parse_args(argv)
    plants = [pl for pl in PLANTS if args.only in pl.name]
    plants.sort(key=lambda pl: pl.tests[0] == E2E)  # the slowest test last: results come sooner
    if not plants:
        print(f"error: no plant name contains {args.only!r}", file=sys.stderr)
        return 2
    if args.list:
        for pl in plants:
            print(f"{pl.name:34s} {pl.path}\n    {pl.why}\n    caught by: {', '.join(pl.tests)}")
        return 0
    from tqdm.auto import tqdm

    results = []
    with tempfile.TemporaryDirectory(prefix="planted_") as tmp:
        root = Path(tmp)
        copy_repo(root)
        check_copy_is_imported(root)
        bar = tqdm(plants, desc="planted", unit="bug")
        for pl in bar:
            bar.set_postfix_str(pl.name)
            results.append(
                run_plant(
                    pl,
                    root,
                    args.full,
                    args.timeout,
                    not (args.all_failures or args.full),
                    args.named_only,
                )
            )
            tqdm.write(f"{pl.name}: {results[-1]['result']} ({results[-1].get('seconds', 0)} s)")
    print(table(results))
    counts = {
        k: sum(r["result"] == k for r in results)
        for k in dict.fromkeys(r["result"] for r in results)
    }
    print("\n" + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["result"] == "caught" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
