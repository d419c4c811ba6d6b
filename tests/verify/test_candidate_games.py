"""Candidate-driven games are compared with the golden aspect by aspect (issue 9, calibration).

The dynamics rollouts are games the candidate plays by its own rules; the golden follows
each move (one the candidate offered and accepted) while it allows it, and every aspect
of the state is credited up to its first disagreement, as in a golden-driven trace. The
moves are drawn among actions spelled as the golden spells them, so a candidate that
writes a third of its actions in another notation still plays games the golden can follow
to their end, and a fault there (wrong final rewards) still costs something: before, the
notation cut every game short and the second fault scored exactly as the first.
"""

import json
import random
import types

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import RewardConfig, _harness, score
from gamecwm_jax.verify.faults import inject
from gamecwm_jax.verify.plan import golden_plan
from gamecwm_jax.verify.score import score_candidate_trace
from gamecwm_jax.verify.suite import suite_trajectories

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
    """With `prefer`, a module draws among its legal actions that the golden has a name
    for, up to case and punctuation: a notation of its own plays the very games the golden
    plays (the same draws, some moves renamed), and actions the golden has no name for (a
    larger board's cells) are drawn only where nothing else is legal. Before session 12
    only exact spellings were drawn, which steered a renamed game elsewhere (in pig,
    with "ROLL" renamed, every game became a run of "stop"s)."""
    plan = golden_plan("tic_tac_toe", 0, FAST)
    known = set(plan.vocabulary)
    assert "x(1,1)" in known and "o(2,0)" in known
    golden, renamed, larger = (
        GAME.load_golden(),
        load(faulty("notation")),
        load(faulty("board_size")),
    )
    key = _harness.spelling_key
    seen_renamed = False
    for i in range(20):
        moves = {
            name: [st["a"] for st in _harness.rollout(m, f"s{i}", 10, 2, plan.vocabulary)["steps"]]
            for name, m in (("golden", golden), ("renamed", renamed))
        }
        assert [key(a) for a in moves["renamed"]] == [key(a) for a in moves["golden"]]
        seen_renamed |= any(a is not None and a not in known for a in moves["renamed"])
        for step in _harness.rollout(larger, f"s{i}", 10, 2, plan.vocabulary)["steps"]:
            if step["a"] is not None and set(step["rec"]["l"]) & known:
                assert step["a"] in known
    assert seen_renamed
    # without `prefer`, among all of them: the larger board's own cells too
    drawn = {st["a"] for i in range(20) for st in _harness.rollout(larger, f"s{i}", 10, 2)["steps"]}
    assert drawn - known - {None}


def test_wrong_rewards_behind_another_notation_still_cost(verifier):
    """Notation alone against notation plus losses scored 0: the golden-driven traces stop
    at the first renamed action, so only the candidate's own games reach the ends where the
    rewards differ. Without the preferred spelling the golden follows a renamed move by
    the position it leads to (`_golden_follow`); without that either, the games stop
    early and the two tie (without the range checks too, which see losses scored 0 at
    any end, followed or not: `test_ranges.py`)."""
    codes = [
        (faulty("notation"), "tic_tac_toe"),
        (faulty("notation", "reward_values"), "tic_tac_toe"),
    ]
    one, two = verifier.verify_batch(codes)
    assert (
        two.details["semantics"]["candidate_driven"] < one.details["semantics"]["candidate_driven"]
    )
    assert two.score < one.score
    any_spelling = FAST.replace(candidate_vocabulary=False)
    one, two = verifier.verify_batch(codes, config=any_spelling)
    assert two.details["semantics"]["candidate_driven"] < (
        one.details["semantics"]["candidate_driven"] - 0.02
    )
    one, two = verifier.verify_batch(
        codes, config=any_spelling.replace(resync_moves=0, semantics_range_share=0.0)
    )
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
    # a move the golden does not allow, to a position no golden move reaches, ends the
    # comparison there
    moved = dict(ro, steps=[dict(s) for s in ro["steps"]])
    moved["steps"][0] = dict(moved["steps"][0], a="x(9,9)")
    nowhere = dict(moved["steps"][1]["rec"], o=['{"board":"nowhere"}'] * 2)
    moved["steps"][1] = dict(moved["steps"][1], rec=nowhere)
    credit, failure = score_candidate_trace(moved, golden, plan, resync_budget=400)
    assert credit < 0.3 and "does not allow" in failure.message


ASPECTS_TTT = 5.0  # player, legal actions, rewards, rejections, 2 observations at 1/2


def _expected(length: int, charged: int) -> float:
    """Every aspect agrees at every state but loses the charged ones; the outcome holds,
    scaled by the share of the length - 1 transitions not charged."""
    outcome = 1.0 - charged / (length - 1)
    return (ASPECTS_TTT * (length - charged) / length + outcome) / (ASPECTS_TTT + 1.0)


def test_a_move_spelled_another_way_is_followed_and_that_step_charged():
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    ro = _golden_rollout("x")
    renamed = dict(ro, steps=[dict(s) for s in ro["steps"]])
    renamed["steps"][2] = dict(renamed["steps"][2], a=renamed["steps"][2]["a"].upper())
    length = len(ro["steps"])
    credit, failure = score_candidate_trace(renamed, golden, plan, resync_budget=400)
    assert credit == pytest.approx(_expected(length, 1))
    assert "another move" in failure.message and "step 3" in failure.message
    credit, failure = score_candidate_trace(renamed, golden, plan, resync_budget=0)
    assert credit < 0.6 and "does not allow" in failure.message


def test_one_move_more_is_followed_and_that_step_charged():
    """The candidate's step 2 makes the golden's moves 2 and 3 at once: its record at step
    3 is the golden's at step 4. The golden, told only move 2, finds move 3 and follows
    the rest of the game."""
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    ro = _golden_rollout("x")
    steps = ro["steps"]
    assert len(steps) >= 7
    jumped = dict(ro, steps=[dict(s) for s in steps[:3] + steps[4:]])
    length = len(jumped["steps"])
    credit, failure = score_candidate_trace(jumped, golden, plan, resync_budget=400)
    assert credit == pytest.approx(_expected(length, 1))
    assert "one move more" in failure.message and "step 3" in failure.message
    # without the search every aspect stops at step 3, where the positions differ
    credit, _ = score_candidate_trace(jumped, golden, plan, resync_budget=0)
    assert credit < _expected(length, 1) - 0.2
    # the search is bounded: a budget smaller than the moves to try finds nothing
    credit, _ = score_candidate_trace(jumped, golden, plan, resync_budget=1)
    assert credit < _expected(length, 1) - 0.2


def _leaky(rec: dict, extra: str = "whole state") -> dict:
    """The record with every view showing one key more than the golden's."""
    views = [json.dumps(dict(json.loads(o), state=extra), sort_keys=True) for o in rec["o"]]
    return dict(rec, o=[_harness.canonical(json.loads(v)) for v in views])


def test_one_move_more_behind_a_leak_is_followed_and_charged():
    """Views that show more than the golden's (a leak) still tell its position: the golden
    follows the candidate through one move more and charges it as without the leak (the
    observations aspect, 1 of 5 here, is charged by the leak from the first state). Before,
    a leak made every position look lost: the search found nothing, the extra move went
    unseen, and in hanabi (calibration seed 0) the leak added credit to a random move."""
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    steps = _golden_rollout("x")["steps"]
    leaky = [dict(s, rec=_leaky(s["rec"])) for s in steps]
    jumped = {"steps": leaky[:3] + leaky[4:], "end": "terminal", "error": None}
    length = len(jumped["steps"])
    by_group: dict[str, float] = {}
    credit, failure = score_candidate_trace(
        jumped, golden, plan, resync_budget=400, by_group=by_group
    )
    charged = (length - 1) / length  # every aspect but the views loses the charged step
    assert by_group["player"] == by_group["legal"] == by_group["rewards"] == charged
    assert by_group["observations"] == 0.0
    assert by_group["outcome"] == pytest.approx(1 - 1 / (length - 1))
    assert "one move more" in failure.message or "observation" in failure.message
    # a view that shows the same keys with another value is another position
    wrong = [
        dict(s, rec=dict(s["rec"], o=[o.replace(".", "-") for o in s["rec"]["o"]])) for s in steps
    ]
    assert not score._same_position(wrong[1]["rec"], steps[1]["rec"])
    assert score._same_position(leaky[1]["rec"], steps[1]["rec"])
    assert not score._same_position(steps[1]["rec"], leaky[1]["rec"])  # less is not enough


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
    sem = report.details["semantics"]
    # its rejections are all wrong, all else right (its games in range too): the aspect
    # of weight 1 in 9.5 costs its share of the part that is not range checks
    assert sem["candidate_aspects"]["rejects"] == 0.0
    assert sem["candidate_aspects"]["range"] == 1.0
    assert sem["candidate_driven"] == pytest.approx(1 - (1 - FAST.semantics_range_share) / 9.5)
    assert sem["golden_driven"] < 0.9
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


# --- guided games and the resync that tries the move spelled alike first (session 11) ---------


def test_a_guided_game_plays_the_golden_game_through_another_notation():
    """With a script (a golden game), the candidate plays its moves, taking the one spelled
    alike up to case and punctuation where it writes a move its own way, to the script's
    end; from the first move it offers neither way on, it draws its moves as usual."""
    golden = GAME.load_golden()
    script = _golden_rollout("guided")
    script = [s["a"] for s in script["steps"] if s["a"] is not None]
    module = load(faulty("notation"))
    ro = _harness.rollout(module, "g", 20, 2, None, None, script)
    taken = [s["a"] for s in ro["steps"] if s["a"] is not None]
    assert ro["end"] == "terminal" and len(taken) == len(script)
    assert taken != script  # some moves were taken in the candidate's own spelling
    assert [_harness.spelling_key(a) for a in taken] == [_harness.spelling_key(a) for a in script]
    # the golden itself plays the script exactly
    same = _harness.rollout(golden, "g", 20, 2, None, None, script)
    assert [s["a"] for s in same["steps"] if s["a"] is not None] == script
    # a move no spelling matches: the script is left there, and the game still ends
    off = script[:2] + ["nowhere"] + script[3:]
    left = _harness.rollout(golden, "g", 20, 2, None, None, off)
    moves = [s["a"] for s in left["steps"] if s["a"] is not None]
    assert moves[:2] == script[:2] and "nowhere" not in moves and left["end"] == "terminal"
    assert _harness.spelled_alike("X(1,1)", ["x(1,1)", "o(1,1)"]) == "x(1,1)"
    assert _harness.spelled_alike("x11", ["x(1,1)", "[x 1 1]"]) is None  # ambiguous


def test_resync_tries_the_move_spelled_alike_first():
    """One golden move of budget finds the renamed move when the one spelled alike is
    tried first; in the legal actions' order it is not found with one try."""
    golden = GAME.load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    ro = _golden_rollout("x")
    renamed = dict(ro, steps=[dict(s) for s in ro["steps"]])
    # a step whose move is not the first the golden lists there (the first one tried)
    t = next(t for t, s in enumerate(ro["steps"][1:-1], 1) if s["rec"]["l"].index(s["a"]) > 0)
    renamed["steps"][t] = dict(renamed["steps"][t], a=renamed["steps"][t]["a"].upper())
    length = len(ro["steps"])
    credit, failure = score_candidate_trace(renamed, golden, plan, 1, alike_first=True)
    assert credit == pytest.approx(_expected(length, 1))
    assert "another move" in failure.message
    credit, _ = score_candidate_trace(renamed, golden, plan, 1, alike_first=False)
    assert credit < _expected(length, 1) - 0.2


def test_guided_games_are_the_suites_longest_and_keep_the_golden_at_one(verifier):
    config = FAST.replace(guided_rollouts=2, resync_alike_first=True)
    plan = golden_plan("kuhn_poker", 0, config)
    assert len(plan.guided_scripts) == 2
    game = get_game("kuhn_poker")
    suite = suite_trajectories(game, game.load_golden())
    assert [len(s) for s in plan.guided_scripts] == sorted(map(len, suite), reverse=True)[:2]
    assert all(s in suite for s in plan.guided_scripts)
    assert golden_plan("kuhn_poker", 0, FAST).guided_scripts == []  # off by default
    guided = [q for q in plan.queries() if q.get("script") is not None]
    assert [q["script"] for q in guided] == plan.guided_scripts
    assert all("resample_player" in q for q in guided)  # kuhn_poker is imperfect
    report = verifier.verify(get_game("kuhn_poker").golden_source, "kuhn_poker", config=config)
    assert report.score == 1.0
    assert report.details["dynamics"]["rollouts"] == len(plan.dynamics_seeds) + 2
