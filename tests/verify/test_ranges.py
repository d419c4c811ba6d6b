"""The candidate's states checked against the range of the golden's answers (issue 9).

After a fault the golden cannot follow (a board of another size: other observations from
the first state on), faults added after it used to change nothing the state-by-state
comparison saw, and a program wrong in three ways scored as one wrong in two. These
tests pin the range checks by hand-computed values and show that, on real faulty
programs, they are what orders such programs.
"""

import itertools
import json

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import RewardConfig, _harness
from gamecwm_jax.verify.faults import inject
from gamecwm_jax.verify.plan import golden_plan
from gamecwm_jax.verify.ranges import GoldenRanges, game_credit, json_shape, step_credit
from gamecwm_jax.verify.score import score_candidate_trace

FAST = RewardConfig.fast()


def obs(value) -> str:
    return _harness.canonical(value)


def test_shapes_tell_board_sizes_and_keys_apart_but_not_values():
    three = {"board": ["...", "...", "..."], "to_move": 0}
    assert json_shape(three) == json_shape({"to_move": 1, "board": ["x..", "...", ".o."]})
    four = {"board": ["....", "....", "....", "...."], "to_move": 0}
    assert json_shape(three) != json_shape(four)
    # strings are strings, whatever their length (a FEN, a message): no shape per length
    assert json_shape(three) == json_shape({"board": ["....", "....", "...."], "to_move": 0})
    assert json_shape(three) != json_shape({"board": ["...", "...", "..."], "to_move": 0, "s": 1})
    assert json_shape(three) != json_shape({"board": ["...", "...", "..."], "to_move": "x"})
    assert json_shape({"x": [1, 2.5]}) == json_shape({"x": [2, 3]})  # numbers are numbers
    assert json_shape({"x": [True]}) != json_shape({"x": [1]})


def _ranges() -> GoldenRanges:
    """Two players; the golden spells a1 b1 c1, gives (0, 0) during a game and (1, -1)
    or (-1, 1) at its end; player 0 sees a 2-row board, player 1 only whose turn it is."""
    mid = {"p": 0, "l": ["a1", "b1"], "r": [0, 0], "o": [obs({"b": ["..", ".."]}), obs({"t": 0})]}
    end = {"p": -4, "l": [], "r": [1, -1], "o": [obs({"b": ["x.", ".."]}), obs({"t": 1})]}
    other = {"p": 1, "l": ["c1"], "r": [0, 0], "o": mid["o"]}
    lost = dict(end, r=[-1.0, 1.0])
    return GoldenRanges.from_records([mid, other, end, lost], 2)


def test_golden_ranges_from_records():
    r = _ranges()
    assert r.actions == {"a1", "b1", "c1"}
    assert r.rewards_end == {(1.0, -1.0), (-1.0, 1.0)}
    assert r.rewards_mid == {(0.0, 0.0)}
    assert len(r.observations[0]) == 1 and len(r.observations[1]) == 1


def test_step_credit_by_hand():
    r = _ranges()
    ok = {
        "p": 1,
        "l": ["a1", "c1"],
        "r": [0.0, 0.0],
        "o": [obs({"b": ["xo", ".."]}), obs({"t": 1})],
    }
    assert step_credit(ok, None, r) == 1.0
    # a third of the actions in another notation, a board one row larger for player 0
    bad = dict(ok, l=["a1", "B1", "c1"], o=[obs({"b": ["..", "..", ".."]}), obs({"t": 1})])
    assert step_credit(bad, None, r) == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    # losses scored 0: (1, 0) is no vector the golden gives at its end...
    end = {"p": -4, "l": [], "r": [1.0, 0.0], "o": ok["o"]}
    assert step_credit(end, None, r) == pytest.approx(2 / 3)
    # ...and (1, -1) is one it gives only at its end, not in the middle of a game
    assert step_credit(dict(end, r=[1, -1]), None, r) == 1.0
    assert step_credit(dict(ok, r=[1, -1]), None, r) == pytest.approx(2 / 3)
    # where the golden is at the same step, its own answers there are in range too
    gold = {"p": 1, "l": ["d1"], "r": [0.5, 0.5], "o": [obs({"b": 7}), ok["o"][1]]}
    odd = dict(ok, l=["d1"], r=[0.5, 0.5], o=gold["o"])
    assert step_credit(odd, None, r) == pytest.approx(1 / 6)
    assert step_credit(odd, gold, r) == 1.0
    # getters that raise or answer nonsense earn nothing
    broken = dict(ok, err={"l": "KeyError", "r": "KeyError"})
    assert step_credit(broken, None, r) == pytest.approx(1 / 3)
    assert step_credit(dict(ok, o="{}", l=[1, 2]), None, r) == pytest.approx(1 / 3)


def test_game_credit_counts_missing_states_and_the_end():
    r = _ranges()
    good = {"p": 0, "l": ["a1"], "r": [0, 0], "o": [obs({"b": ["..", ".."]}), obs({"t": 0})]}
    end = {"p": -4, "l": [], "r": [-1, 1], "o": good["o"]}
    assert game_credit([good, good, end], [], ["a1", "c1"], 3, True, r) == 1.0
    # a crash after two states, where the golden's games are 4 long: 2 of 4 states, no end
    assert game_credit([good, good], [], ["a1"], 4, False, r) == pytest.approx(0.5 * 2 / 4)
    # losses scored 0: the end is out of range, and so is that one state
    zero = dict(end, r=[0, 1])
    assert game_credit([good, good, zero], [], ["a1", "b1"], 3, True, r) == pytest.approx(
        0.5 * (2 + 2 / 3) / 3
    )
    # one move of two spelled as the golden never does: half of it; none: nothing
    assert game_credit([good, good, end], [], ["a1", "A1"], 3, True, r) == 0.5
    assert game_credit([good, good, end], [], ["0,0", "0,1"], 3, True, r) == 0.0
    # ...unless the golden, in step, lists it there
    assert (
        game_credit([good, good, end], [good, dict(good, l=["0,1"])], ["a1", "0,1"], 3, True, r)
        == 1.0
    )


def test_a_golden_game_is_fully_in_range_and_a_smaller_range_share_moves_nothing_else():
    game = get_game("connect4")
    golden = game.load_golden()
    plan = golden_plan("connect4", 0, FAST)
    ro = _harness.rollout(golden, "g", plan.rollout_steps, 2, plan.vocabulary)
    by_group: dict[str, float] = {}
    assert score_candidate_trace(ro, golden, plan, by_group=by_group, range_share=1.0)[0] == 1.0
    assert by_group["range"] == 1.0
    # an observation the golden never shows (one column more) costs at share 1 only
    rec = ro["steps"][0]["rec"]
    wide = json.loads(rec["o"][0])
    first = next(k for k, v in wide.items() if isinstance(v, list))
    wide[first] = [*wide[first], wide[first][-1]]
    bad = dict(ro, steps=[dict(ro["steps"][0], rec=dict(rec, o=[obs(wide)] * 2))] + ro["steps"][1:])
    at_0 = score_candidate_trace(bad, golden, plan, range_share=0.0)[0]
    at_1 = score_candidate_trace(bad, golden, plan, range_share=1.0)[0]
    assert at_1 < 1.0 and at_0 < 1.0
    assert score_candidate_trace(bad, golden, plan, range_share=0.25)[0] == pytest.approx(
        0.75 * at_0 + 0.25 * at_1
    )


@pytest.mark.parametrize(
    ("game", "first", "then"),
    [
        # breakthrough: a board one larger leaves the golden nothing to follow (0.11 on the
        # calibration ladders of seed 2); losses scored 0 after it tied
        ("breakthrough", ["board_size"], ["reward_values"]),
        # gen_tic_tac_toe, seed 3: after a larger board and a random move, another
        # notation and losses scored 0 changed nothing there (0.043 three times)
        ("gen_tic_tac_toe", ["board_size", "random_transition"], ["notation", "reward_values"]),
    ],
)
def test_faults_behind_a_fault_the_golden_cannot_follow_still_cost(verifier, game, first, then):
    g = get_game(game)
    chain = [first + then[:k] for k in range(len(then) + 1)]
    codes = [(inject(g.golden_source, faults, g), game) for faults in chain]
    assert all(code is not None for code, _ in codes)
    with_ranges = [r.score for r in verifier.verify_batch(codes)]
    assert with_ranges == sorted(with_ranges, reverse=True)
    assert len(set(with_ranges)) == len(with_ranges), with_ranges  # strictly lower each time
    # without the range checks, some fault after the first changes (almost) nothing
    without = [
        r.score for r in verifier.verify_batch(codes, config=FAST.replace(semantics_range_share=0))
    ]
    gaps = [a - b for a, b in itertools.pairwise(without)]
    assert min(gaps) < 0.002, without


def _ttt_game(max_moves: int) -> tuple[dict, object]:
    """A golden tic-tac-toe game of at most `max_moves` moves (the first seed giving one)."""
    golden = get_game("tic_tac_toe").load_golden()
    plan = golden_plan("tic_tac_toe", 0, FAST)
    for i in range(200):
        ro = _harness.rollout(golden, f"short{i}", plan.rollout_steps, 2, plan.vocabulary)
        if ro["end"] == "terminal" and len(ro["steps"]) <= max_moves + 1:
            return ro, golden
    raise AssertionError("no short game")


def _range_of(ro: dict, golden, plan) -> float:
    by_group: dict[str, float] = {}
    score_candidate_trace(ro, golden, plan, by_group=by_group, resync_budget=0, range_share=1.0)
    return by_group["range"]


def test_a_game_the_golden_leaves_is_in_range_over_its_own_length_not_less_than_the_shortest():
    """Once the golden refuses a move it cannot say whether the game should go on. The
    range checks used to count such a game, ended at a terminal of its own, out of the
    golden's mean length: a short game earned less than one that never ends (backgammon,
    seed 5: a missing end test after a random move raised the reward). Now it counts its
    own states, but never fewer than the golden's shortest game."""
    plan = golden_plan("tic_tac_toe", 0, FAST)
    ro, golden = _ttt_game(6)
    states = len(ro["steps"])
    assert plan.ranges.shortest == 6 and states < plan.mean_length + 1  # 5 moves win at best
    # the first move is one the golden refuses there (o moves first); every record is
    # the golden's, so each state is in range, and so is the end
    left = dict(ro, steps=[dict(ro["steps"][0], a="o(0,0)")] + ro["steps"][1:])
    assert "o(0,0)" in plan.ranges.actions
    assert _range_of(left, golden, plan) == 1.0
    # the same game over after its refused move: 2 states, counted out of 6
    over = dict(left, steps=[left["steps"][0], dict(ro["steps"][-1], a=None)])
    assert _range_of(over, golden, plan) == pytest.approx(0.5 * 2 / 6 + 0.5)
    # where the golden follows to the end and goes on, the game still counts the golden's
    # mean length: over at once (the final position shown at the start, every answer in
    # range) is 1 state of int(mean length + 1)
    once = dict(ro, steps=[dict(ro["steps"][-1], a=None)])
    mean = int(min(plan.mean_length + 1, plan.rollout_steps))
    assert mean > 6
    assert _range_of(once, golden, plan) == pytest.approx(0.5 * 1 / mean + 0.5)


def test_a_game_past_a_checked_length_bound_fails_the_end_test():
    """A game still going after max_game_length actions has not ended where a game may:
    its rewards there fail the end test where the bound is checked (the golden's games
    all end within it), and pass where rollouts are cut before it."""
    ro, golden = _ttt_game(9)
    checked = golden_plan("tic_tac_toe", 0, FAST)
    assert checked.bound_checked
    # the golden's own game, with the candidate claiming it went on past the bound
    last = ro["steps"][-1]
    going = dict(ro, end="bound", steps=[*ro["steps"][:-1], dict(last, rec=dict(last["rec"], p=0))])
    on_range = _range_of(going, golden, checked)
    cut = golden_plan("tic_tac_toe", 0, RewardConfig.fast(max_rollout_steps=9))
    assert not cut.bound_checked
    assert _range_of(going, golden, cut) == pytest.approx(on_range + 0.5)


def test_end_rewards_come_from_extra_golden_games_too():
    """Backgammon's golden-driven traces on seed 5 never end in a plain win for the first
    player, so a candidate's correct end failed the range's end test; extra random golden
    games (`range_step_budget`) add the vectors a game ends with."""
    none = golden_plan("backgammon", 5, RewardConfig(range_step_budget=0)).ranges
    more = golden_plan("backgammon", 5, RewardConfig()).ranges
    assert (1.0, -1.0) not in none.rewards_end
    assert (1.0, -1.0) in more.rewards_end and none.rewards_end < more.rewards_end
    # every vector added is one the golden gives at an end: a win of 1, 2 or 3 points
    assert more.rewards_end <= {(s * v, -s * v) for s in (1.0, -1.0) for v in (1.0, 2.0, 3.0)}
    assert more.rewards_mid == none.rewards_mid and more.actions == none.actions
