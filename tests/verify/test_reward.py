"""The reward is dense and pays only for correct behaviour (issue 9).

Each exploit of the seed's reward has a test here that failed on the verifier before this
change (checked against the code at commit ca1e4c0): an apply_action that ignores actions it
does not know, a view that shows nothing, a module that only imports because the worker's
own `from __future__ import annotations` leaked into it, a missing function nothing needs,
a mutated input, and the prefix credit of a candidate that goes wrong after N moves.
"""

import copy
import itertools

import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.verify import RewardConfig
from gamecwm_jax.verify.plan import golden_plan

TTT = get_game("tic_tac_toe").golden_source
KUHN = get_game("kuhn_poker").golden_source
FAST = RewardConfig.fast()

# --- candidates made from the goldens (each replacement is asserted to apply) --------------


def _replace(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


_TTT_APPLY = """def apply_action(state: State, action: Action) -> State:
    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    r, c = int(action[2]), int(action[4])
    board = [row[:] for row in state["board"]]  # copy: never mutate the input state
    board[r][c] = action[0]
    return {"board": board, "player": 1 - state["player"], "winner": _winner(board)}
"""
# Tic-tac-toe in its own notation ("r,c"); UNKNOWN is what apply_action does with a
# string it does not know. Ignoring it keeps turn, rewards and "not over" in step with the
# golden, which the seed's reward paid for.
_OWN_NOTATION = _replace(
    _replace(TTT, '        f"{mark}({r},{c})"', '        f"{r},{c}"'),
    _TTT_APPLY,
    """def apply_action(state: State, action: Action) -> State:
    board = [row[:] for row in state["board"]]
    if action in get_legal_actions(state):
        r, c = int(action[0]), int(action[2])
        board[r][c] = MARKS[state["player"]]
    else:
        UNKNOWN
    return {"board": board, "player": 1 - state["player"], "winner": _winner(board)}
""",
)
IGNORES_UNKNOWN = _OWN_NOTATION.replace("UNKNOWN", "pass  # not a move I know: skip it")
RAISES_ON_UNKNOWN = _OWN_NOTATION.replace("UNKNOWN", 'raise ValueError(f"illegal {action!r}")')
# The golden, except that apply_action ignores strings it does not know (same notation).
GOLDEN_BUT_IGNORES = _replace(
    TTT,
    """    if action not in get_legal_actions(state):
        raise ValueError(f"illegal action {action!r}")
    r, c""",
    """    if action not in get_legal_actions(state):
        return dict(state)
    r, c""",
)
SHALLOW_COPY = _replace(
    TTT,
    'board = [row[:] for row in state["board"]]  # copy: never mutate the input state',
    'board = state["board"]  # shares the rows: mutates the input',
)
NO_CHANCE_FUNCTION = _replace(
    TTT,
    "def get_chance_outcomes(state: State) -> list[tuple[Action, float]]:\n"
    "    return []  # no chance in tic-tac-toe\n",
    "",
)
# Kuhn poker whose observations never change and whose resample_history raises.
KUHN_BLIND = _replace(
    _replace(
        KUHN,
        "def get_observations(state: State) -> list[dict[str, Any]]:",
        "def get_observations(state: State) -> list[dict[str, Any]]:\n"
        "    return [dict(view=None) for _ in range(2)]\n\n\ndef _unused(state):",
    ),
    "def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:",
    "def resample_history(obs_action_history: list[dict], player_id: int) -> list[Action]:\n"
    "    raise ValueError('cannot resample')\n\n\ndef _unused2(obs_action_history, player_id):",
)
# Kuhn poker whose observations show both cards to both players (a leak).
KUHN_LEAKY = _replace(
    KUHN,
    '"opponent_card": state["cards"][1 - p] if showdown else None,',
    '"opponent_card": state["cards"][1 - p],',
)


def wrong_player_after(n: int) -> str:
    """Tic-tac-toe right for its first `n` moves, then the wrong player is to move (so the
    golden's next action is not offered)."""
    return _replace(
        TTT,
        '        return TERMINAL\n    return state["player"]\n',
        "        return TERMINAL\n"
        f"    if sum(c != '.' for row in state['board'] for c in row) >= {n}:\n"
        "        return 1 - state['player']\n"
        '    return state["player"]\n',
    )


# --- exploits -------------------------------------------------------------------------------


def test_ignoring_unknown_actions_earns_no_semantics(verifier):
    """Issue 9, 2(a): with zero correct actions, ignoring them must not pay; raising on
    them (as games/API.md requires) must pay at least as much. The seed's reward gave the
    ignoring candidate 0.41 on semantics and the raising one 0.07."""
    ignores, raises = verifier.verify_batch(
        [(IGNORES_UNKNOWN, "tic_tac_toe"), (RAISES_ON_UNKNOWN, "tic_tac_toe")]
    )
    assert ignores.tiers["semantics"] < 0.1, ignores.to_json()
    assert raises.tiers["semantics"] > ignores.tiers["semantics"]
    assert raises.score > ignores.score


def test_apply_action_must_raise_on_what_the_golden_rejects(verifier):
    """The golden with an apply_action that returns the state unchanged for an illegal
    action instead of raising: everything else is right, so only the rejection probes
    (occupied cells, the other player's mark, malformed strings) can tell."""
    report = verifier.verify(GOLDEN_BUT_IGNORES, "tic_tac_toe")
    assert report.tiers["semantics"] < 0.95
    assert "accepted" in report.failure.message and report.failure.tier == "semantics"


def test_a_view_that_shows_nothing_earns_no_information(verifier):
    """Issue 9, 2(b): constant observations and a resample_history that raises earned 0.25
    on the information tier (a view that shows nothing leaks nothing)."""
    report = verifier.verify(KUHN_BLIND, "kuhn_poker")
    assert report.tiers["information"] == 0.0, report.details["information"]
    assert report.details["information"]["leak"] == 0.0


def test_a_leaking_view_loses_the_leak_check(verifier):
    golden, leaky = verifier.verify_batch([(KUHN, "kuhn_poker"), (KUHN_LEAKY, "kuhn_poker")])
    assert golden.details["information"]["leak"] == 1.0
    assert leaky.details["information"]["leak"] < 0.75
    assert leaky.score < golden.score


def test_candidate_does_not_inherit_the_workers_future_import(verifier):
    """Issue 9, 3: connect4 without its `Action = str` line raises NameError on a plain
    import (annotations are evaluated), but scored 1.0 because the worker's compile()
    inherited `from __future__ import annotations`."""
    code = _replace(get_game("connect4").golden_source, "Action = str\n", "")
    report = verifier.verify(code, "connect4")
    assert report.score == 0.0
    assert "NameError" in report.failure.message


# --- no cliffs --------------------------------------------------------------------------------


def test_missing_function_the_game_does_not_need_costs_one_static_check(verifier):
    """Issue 9, 4: a chance-free tic-tac-toe without get_chance_outcomes scored 0.04."""
    report = verifier.verify(NO_CHANCE_FUNCTION, "tic_tac_toe")
    assert report.tiers["dynamics"] == report.tiers["semantics"] == 1.0
    assert report.tiers["scenarios"] == 1.0
    assert report.details["static"]["failed"] == [
        "get_chance_outcomes defined, taking 1 argument(s)"
    ]
    assert 0.95 < report.score < 1.0


def test_missing_function_costs_what_depends_on_it(verifier):
    code = _replace(TTT, "def get_observations", "def _unused_observations")
    report = verifier.verify(code, "tic_tac_toe")
    assert "gated" not in report.details
    assert report.tiers["scenarios"] > 0.5  # only scenarios that check observations fail
    assert 0.5 < report.tiers["semantics"] < 1.0 and 0.5 < report.tiers["dynamics"] < 1.0
    assert 0.6 < report.score < 1.0


def test_seed_config_keeps_the_seeds_gates(verifier):
    code = _replace(TTT, "def get_observations", "def _unused_observations")
    report = verifier.verify(code, "tic_tac_toe", config=RewardConfig.seed(**_fast_budgets()))
    assert "incomplete API" in report.details["gated"]
    assert report.tiers["dynamics"] == 0.0 and report.score < 0.15


def test_mutating_the_input_is_charged_not_fatal(verifier):
    """Issue 9, 1: one shallow copy sank an otherwise right program (dynamics ~0.1, then
    the dynamics gate zeroed every semantic tier: 0.18 in all)."""
    report = verifier.verify(SHALLOW_COPY, "tic_tac_toe")
    assert report.tiers["semantics"] == report.tiers["scenarios"] == 1.0
    assert report.details["dynamics"]["pure_applies"] == 0
    assert report.tiers["dynamics"] == pytest.approx(1 - FAST.purity_share)
    w = FAST.weights()
    mean = w["static"] + w["dynamics"] * (1 - FAST.purity_share) + w["semantics"] + w["scenarios"]
    mean /= w["static"] + w["dynamics"] + w["semantics"] + w["scenarios"]
    assert report.score == pytest.approx(mean**FAST.reward_exponent)  # 0.85 ** 1.5 = 0.78
    seed = verifier.verify(SHALLOW_COPY, "tic_tac_toe", config=RewardConfig.seed(**_fast_budgets()))
    assert seed.score < 0.3  # the cliff is still there for comparison


def test_the_reward_is_the_weighted_mean_of_the_tiers_to_the_configured_power(verifier):
    """(sum w_t tier_t / sum w_t) ** reward_exponent over the tiers that apply, computed
    by hand from the report's tiers; the exponent widens the gaps near the top without
    moving any ranking, and the seed's reward (exponent 1) is the plain mean."""
    leaky = verifier.verify(KUHN_LEAKY, "kuhn_poker")
    tiers = {t: v for t, v in leaky.tiers.items() if v is not None}
    assert "information" in tiers and min(tiers.values()) < 1.0 < len(tiers)
    w = FAST.weights()
    mean = sum(w[t] * v for t, v in tiers.items()) / sum(w[t] for t in tiers)
    assert FAST.reward_exponent == 1.5 and 0.0 < mean < 1.0
    assert leaky.score == pytest.approx(mean**1.5)
    linear = verifier.verify(KUHN_LEAKY, "kuhn_poker", config=FAST.replace(reward_exponent=1.0))
    assert linear.tiers == leaky.tiers
    assert linear.score == pytest.approx(mean) and linear.score > leaky.score
    assert RewardConfig.seed().reward_exponent == 1.0
    with pytest.raises(ValueError, match="reward_exponent must be > 0"):
        RewardConfig.from_dict({"reward_exponent": 0.0})


def _fast_budgets() -> dict:
    keys = ("dynamics_rollouts", "semantics_rollouts", "leak_pairs", "step_budget")
    return {k: getattr(FAST, k) for k in keys} | {"max_rollout_steps": FAST.max_rollout_steps}


# --- prefix credit ----------------------------------------------------------------------------


def _longest_trace(plan):
    return max(range(len(plan.semantic_actions)), key=lambda i: len(plan.semantic_actions[i]))


def test_prefix_credit_is_proportional_to_the_steps_right():
    """A candidate record equal to the golden's for the first N states and garbage after
    earns N times what N = 1 earns, and 1.0 when right everywhere."""
    from gamecwm_jax.verify.score import score_golden_trace  # (imported here: new in issue 9)

    plan = golden_plan("tic_tac_toe", 0, FAST)
    i = _longest_trace(plan)
    actions, gold, probes = plan.semantic_actions[i], plan.semantic_traces[i], plan.illegal_for(i)
    length = len(gold["states"])
    assert length >= 6

    def candidate(n):
        states = []
        for t, rec in enumerate(gold["states"]):
            if t < n:
                states.append(dict(copy.deepcopy(rec), rej=[True] * len(probes[t])))
            else:
                rej = [False] * len(probes[t])
                states.append({"p": 7, "l": ["?"], "c": [], "r": [9.0], "o": ["{}"], "rej": rej})
        return {"states": states, "error": None}

    credit = [
        score_golden_trace(actions, gold, candidate(n), probes, 2, False)[0]
        for n in range(length + 1)
    ]
    assert credit[0] == 0.0 < credit[1]
    for n in range(1, length):
        assert credit[n] == pytest.approx(n * credit[1]), (n, credit)
    assert credit[length] == 1.0 > credit[length - 1]


def test_aspects_weigh_as_configured():
    """A candidate right everywhere except the rewards of the last state loses that
    state's rewards and the outcome, and nothing else: the credit is the weighted mean
    computed by hand (rewards 4, outcome 2, current player 0.5, the rest 1), not the
    unweighted one."""
    from gamecwm_jax.verify.score import score_golden_trace

    config = RewardConfig()
    assert (config.semantics_rewards_weight, config.semantics_outcome_weight) == (4.0, 2.0)
    assert config.semantics_player_weight == 0.5
    plan = golden_plan("tic_tac_toe", 0, FAST)
    i = _longest_trace(plan)
    actions, gold, probes = plan.semantic_actions[i], plan.semantic_traces[i], plan.illegal_for(i)
    length = len(gold["states"])
    states = [
        dict(copy.deepcopy(rec), rej=[True] * len(probes[t]))
        for t, rec in enumerate(gold["states"])
    ]
    assert states[-1]["r"] != [0.0, 0.0]  # a decisive end
    states[-1]["r"] = [0.0, 0.0]
    by_group: dict = {}
    credit = score_golden_trace(
        actions,
        gold,
        {"states": states, "error": None},
        probes,
        2,
        False,
        by_group=by_group,
        aspect_weights=config.aspect_weights(),
    )[0]
    # player 0.5, legal 1, rejections 1, observations 1 right everywhere; rewards 4 right
    # on all states but the last; the outcome (2) lost
    expected = (0.5 + 1 + 1 + 1 + 4 * (length - 1) / length) / (0.5 + 1 + 1 + 1 + 4 + 2)
    assert credit == pytest.approx(expected)
    unweighted = score_golden_trace(
        actions, gold, {"states": states, "error": None}, probes, 2, False
    )[0]
    assert unweighted == pytest.approx((4 + (length - 1) / length) / 6)
    assert by_group == pytest.approx(
        {
            "player": 1,
            "legal": 1,
            "rewards": (length - 1) / length,
            "rejects": 1,
            "observations": 1,
            "outcome": 0,
        }
    )


def test_the_verifier_applies_its_aspect_weights(verifier):
    """End to end: the semantics tier of a candidate whose losses score 0 is its aspect
    credits (reported in `details`) under the config's weights, and lower than under equal
    weights, since wrong rewards now cost more."""
    from gamecwm_jax.verify import faults

    game = get_game("tic_tac_toe")
    code = faults.inject(TTT, ["reward_values"], game)
    equal = RewardConfig.fast(
        semantics_rewards_weight=1.0, semantics_player_weight=1.0, semantics_outcome_weight=1.0
    )
    weighted = verifier.verify(code, "tic_tac_toe", config=FAST)
    flat = verifier.verify(code, "tic_tac_toe", config=equal)
    sem = weighted.details["semantics"]
    w = {"player": 0.5, "legal": 1, "rewards": 4, "rejects": 1, "observations": 1, "outcome": 2}
    share = FAST.semantics_range_share  # the candidate's games: that share is range checks
    for side, key, extra in (
        ("golden_aspects", "golden_driven", set()),
        ("candidate_aspects", "candidate_driven", {"range"}),
    ):
        aspects = sem[side]
        assert set(aspects) == set(w) | extra
        by_hand = sum(w[g] * aspects[g] for g in w) / sum(w.values())
        if extra:
            by_hand = (1 - share) * by_hand + share * aspects["range"]
        assert sem[key] == pytest.approx(by_hand), side
    assert sem["golden_aspects"]["outcome"] < 1.0
    assert weighted.tiers["semantics"] < flat.tiers["semantics"] - 0.02


def test_prefix_credit_grows_with_the_moves_a_candidate_gets_right(verifier):
    reports = verifier.verify_batch(
        [(wrong_player_after(n), "tic_tac_toe") for n in range(0, 8, 2)]
    )
    driven = [r.details["semantics"]["golden_driven"] for r in reports]
    assert driven[0] < 0.2
    assert all(a < b for a, b in itertools.pairwise(driven)), driven
    scores = [r.score for r in reports]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
