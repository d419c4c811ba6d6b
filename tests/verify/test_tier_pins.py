"""Per-tier pins for known-bad tic-tac-toe candidates.

Each candidate breaks exactly one rule of the golden. The pins are inequalities any sound
scoring satisfies (the broken tier is below 1, the tiers the bug cannot touch are exactly
1), so they survive re-weighting of the reward, yet a tier that stops checking what it
is meant to check (say, semantics comparing states without their rewards) turns them red.
"""

import pytest

from gamecwm_jax.games import get_game

TTT = get_game("tic_tac_toe").golden_source


def broken(old: str, new: str) -> str:
    assert TTT.count(old) == 1, old  # the golden changed: update the pin, do not guess
    return TTT.replace(old, new)


CANDIDATES = {
    # name: (code, tiers that must be exactly 1, tiers that must be below 1)
    "rewards_flipped": (
        broken(
            "return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]",
            "return [-1.0, 1.0] if winner == 0 else [1.0, -1.0]",
        ),
        ("static", "dynamics"),  # still well-formed, zero-sum numbers
        ("semantics", "scenarios"),
    ),
    "mutates_its_input": (
        broken(
            'board = [row[:] for row in state["board"]]',
            'board = state["board"]',
        ),
        ("static",),
        ("dynamics",),  # apply_action must be pure
    ),
    "a_cell_never_legal": (
        broken(
            'if state["board"][r][c] == "."\n',
            'if state["board"][r][c] == "." and (r, c) != (2, 2)\n',
        ),
        ("static",),
        ("semantics",),
    ),
    # Mid-game rewards wrong, final rewards right: only the per-step rewards comparison
    # sees it (the semantics outcome check and the scenarios look at the end alone).
    "mid_game_rewards": (
        broken(
            "    if winner is None:\n        return [0.0, 0.0]\n",
            "    if winner is None:\n"
            '        return [0.0, 0.0] if _is_full(state["board"]) else [0.5, -0.5]\n',
        ),
        ("static", "scenarios"),
        ("semantics",),
    ),
    "second_player_sees_nothing": (
        broken("return [dict(obs), dict(obs)]", "return [dict(obs), {}]"),
        ("static", "dynamics"),
        ("semantics",),
    ),
}


@pytest.fixture(scope="module")
def reports(verifier):
    names = list(CANDIDATES)
    out = verifier.verify_batch([(CANDIDATES[n][0], "tic_tac_toe") for n in names])
    return dict(zip(names, out))


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_known_bad_candidate_loses_on_its_tier(reports, name):
    _, intact, hit = CANDIDATES[name]
    report = reports[name]
    tiers = report.tiers
    assert report.score < 1.0 and report.failure is not None, report.to_json()
    for t in intact:
        assert tiers[t] == 1.0, (t, tiers)
    for t in hit:
        assert tiers[t] is not None and tiers[t] < 1.0, (t, tiers)


def test_wrong_mid_game_rewards_cost_the_whole_rewards_aspect(reports):
    """Every golden game disagrees on rewards from its first state, so the per-step rewards
    aspect earns nothing and semantics loses that aspect's whole weight (measured 0.87;
    0.83 since the candidate's own games are compared aspect by aspect too, where the
    rewards aspect is lost the same way).
    Were rewards left out of the per-step comparison, only the end-of-game check would see
    them, on the few suite games cut mid-game (measured 0.99)."""
    assert reports["mid_game_rewards"].tiers["semantics"] < 0.95, reports["mid_game_rewards"].tiers
