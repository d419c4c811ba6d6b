"""Candidate-driven games are compared with the golden aspect by aspect (issue 9, calibration).

The dynamics rollouts are games the candidate plays by its own rules; the golden follows
each move (one the candidate offered and accepted) while it allows it, and every aspect
of the state is credited up to its first disagreement, as in a golden-driven trace. The
moves are drawn among actions spelled as the golden spells them, so a candidate that
writes a third of its actions in another notation still plays games the golden can follow
to their end, and a fault there (wrong final rewards) still costs something: before, the
notation cut every game short and the second fault scored exactly as the first.
"""

import random
import types

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import RewardConfig, _harness
from gamecwm_jax.verify.faults import inject
from gamecwm_jax.verify.plan import golden_plan
from gamecwm_jax.verify.score import score_candidate_trace

FAST = RewardConfig.fast()
GAME = get_game("tic_tac_toe")


def faulty(*kinds: str) -> str:
    code = inject(GAME.golden_source, list(kinds), GAME)
    assert code is not None
    return code


def load(code: str) -> types.ModuleType:
    module = types.ModuleType("candidate")
    exec(compile(code, "<candidate>", "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    return module


def test_candidate_games_draw_moves_spelled_as_the_golden_spells_them():
    plan = golden_plan("tic_tac_toe", 0, FAST)
    known = set(plan.vocabulary)
    assert "x(1,1)" in known and "o(2,0)" in known
    module = load(faulty("notation"))
    chosen = {True: set(), False: set()}
    for i in range(20):
        for prefer in (True, False):
            ro = _harness.rollout(module, f"s{i}", 10, 2, plan.vocabulary if prefer else None)
            for step in ro["steps"]:
                legal = step["rec"]["l"] or []
                if step["a"] is not None and any(a in known for a in legal):
                    chosen[prefer].add(step["a"])
    assert chosen[True] and chosen[True] <= known
    assert chosen[False] - known  # drawn among all, some moves are in the other notation


def test_wrong_rewards_behind_another_notation_still_cost(verifier):
    """Notation alone against notation plus losses scored 0: the golden-driven traces stop
    at the first renamed action, so only the candidate's own games reach the ends where the
    rewards differ. Without the preferred spelling they stop early too, and tie."""
    codes = [
        (faulty("notation"), "tic_tac_toe"),
        (faulty("notation", "reward_values"), "tic_tac_toe"),
    ]
    one, two = verifier.verify_batch(codes)
    assert (
        two.details["semantics"]["candidate_driven"] < one.details["semantics"]["candidate_driven"]
    )
    assert two.score < one.score
    off = FAST.replace(candidate_vocabulary=False)
    one, two = verifier.verify_batch(codes, config=off)
    assert two.details["semantics"]["candidate_driven"] == pytest.approx(
        one.details["semantics"]["candidate_driven"], abs=0.02
    )


def _golden_rollout(seed: str) -> dict:
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    return _harness.rollout(golden, seed, plan.rollout_steps, 2, plan.vocabulary)


def test_candidate_game_credit():
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    ro = _golden_rollout("x")
    assert ro["end"] == "terminal"
    assert score_candidate_trace(ro, golden, plan)[0] == 1.0
    # wrong final rewards: only the rewards aspect's last step and the outcome are lost
    bad = dict(ro, steps=[dict(s) for s in ro["steps"]])
    bad["steps"][-1] = dict(bad["steps"][-1], rec=dict(bad["steps"][-1]["rec"], r=[0.0, 0.0]))
    credit, failure = score_candidate_trace(bad, golden, plan)
    if ro["steps"][-1]["rec"]["r"] != [0.0, 0.0]:
        assert 0.6 < credit < 1.0 and "rewards" in failure.message
    # a game the candidate ends at once, where the golden goes on: it counts the golden's
    # mean length, so the aspects that agree at the first state earn little
    first = dict(ro["steps"][0], a=None, rec=dict(ro["steps"][0]["rec"], p=-4, l=[]))
    short = {"steps": [first], "end": "terminal", "error": None}
    credit, failure = score_candidate_trace(short, golden, plan)
    assert credit < 0.3 and failure is not None
    # a move the golden does not allow ends the comparison there
    moved = dict(ro, steps=[dict(s) for s in ro["steps"]])
    moved["steps"][0] = dict(moved["steps"][0], a="x(9,9)")
    credit, failure = score_candidate_trace(moved, golden, plan)
    assert credit < 0.3 and "does not allow" in failure.message


def test_golden_moves_random_choice_is_seeded():
    a, b = _golden_rollout("y"), _golden_rollout("y")
    assert [s["a"] for s in a["steps"]] == [s["a"] for s in b["steps"]]
    random.seed(0)  # the module-level generator plays no part
    assert [s["a"] for s in _golden_rollout("y")["steps"]] == [s["a"] for s in a["steps"]]


def test_candidate_games_probe_what_the_golden_rejects(verifier):
    """The golden whose apply_action returns the state unchanged for a string it does not
    know: its own games are right move by move, so only the rejection probes of those
    games (strings it does not list, which the golden rejects too) can tell."""
    code = GAME.golden_source.replace(
        '        raise ValueError(f"illegal action {action!r}")',
        "        return state",
    )
    assert code != GAME.golden_source
    report = verifier.verify(code, "tic_tac_toe")
    assert report.details["semantics"]["candidate_driven"] < 0.9
    assert report.details["semantics"]["golden_driven"] < 0.9
    assert verifier.verify(GAME.golden_source, "tic_tac_toe").score == 1.0


def test_a_leak_behind_another_notation_is_still_seen(verifier):
    """The leak check compares the views over the pairs of states the candidate reached,
    along golden-driven traces and along its own games as far as the golden follows them,
    times the share of pairs reached. With a third of the actions in another notation the
    golden-driven games stop early; before, every pair with an unreached state counted
    as a disagreement in both rates, so the check gave ~0 (0.0 here) with or without a
    view that carries the whole state, and that second fault was free."""
    game = get_game("goofspiel")
    codes = [
        (inject(game.golden_source, kinds, game), "goofspiel")
        for kinds in (["notation"], ["notation", "leaky_observation"])
    ]
    one, two = verifier.verify_batch(codes)
    assert two.details["information"]["leak"] < one.details["information"]["leak"]


def test_a_broken_resample_behind_another_notation_still_costs(verifier):
    """resample_history is also asked on the candidate's view of its own games: with a
    third of the actions in another notation no query on the golden's games replays (the
    candidate does not offer the golden's action), so before this a resample_history
    that returns only the player's own actions scored exactly as a right one."""
    game = get_game("goofspiel")
    codes = [
        (inject(game.golden_source, kinds, game), "goofspiel")
        for kinds in (["notation"], ["notation", "broken_resample"])
    ]
    one, two = verifier.verify_batch(codes)
    assert one.details["information"]["resample"] > 0.05
    assert two.details["information"]["resample"] < one.details["information"]["resample"]
    assert two.score < one.score
