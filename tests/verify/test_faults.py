"""The calibration ladder's fault injectors do what they claim, on goldens they were not
written for, and the benchmark's statistics are right.

Each fault is checked by running the injected module in-process (it is a golden plus our
own wrapper, no model output) against the golden along golden games, not by the verifier
whose calibration they serve.
"""

import copy
import json
import random
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gamecwm_jax.bench.reward import _stats, spearman
from gamecwm_jax.games import get_game
from gamecwm_jax.games.play import random_trajectory
from gamecwm_jax.games.registry import TERMINAL
from gamecwm_jax.verify import RewardConfig
from gamecwm_jax.verify.faults import FAULTS, applicable, chains, inject

REPO = Path(__file__).resolve().parents[2]


def load(code: str) -> types.ModuleType:
    module = types.ModuleType("faulty")
    exec(compile(code, "<faulty>", "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    return module


def states_along(module, actions):
    state = module.get_initial_state()
    out = [state]
    for a in actions:
        state = module.apply_action(state, a)
        out.append(state)
    return out


def golden_games(name: str, count: int = 20):
    golden = get_game(name).load_golden()
    return golden, [random_trajectory(golden, random.Random(i), 400) for i in range(count)]


def faulty(name: str, kind: str):
    game = get_game(name)
    code = inject(game.golden_source, [kind], game)
    assert code is not None, (name, kind)
    return load(code)


@pytest.mark.parametrize("name", ["tic_tac_toe", "connect4", "kuhn_poker", "pig", "leduc_poker"])
def test_every_fault_applies_to_these_goldens_and_the_result_loads(name):
    game = get_game(name)
    kinds = applicable(game.golden_source, game)
    expected = set(FAULTS) - (set() if game.imperfect else {"leaky_observation", "broken_resample"})
    expected -= {"board_size"} if name in ("kuhn_poker", "pig", "leduc_poker") else set()
    assert set(kinds) == expected
    for kind in kinds:
        load(inject(game.golden_source, [kind], game))
    load(inject(game.golden_source, kinds, game))  # all of them at once compose


def test_shallow_copy_mutates_the_input():
    module = faulty("tic_tac_toe", "shallow_copy")
    state = module.get_initial_state()
    before = copy.deepcopy(state)
    nxt = module.apply_action(state, module.get_legal_actions(state)[0])
    assert state != before and nxt == state


def test_random_transition_is_not_deterministic():
    module = faulty("connect4", "random_transition")
    state = module.get_initial_state()
    results = {json.dumps(module.apply_action(state, "x3"), sort_keys=True) for _ in range(40)}
    assert len(results) > 1


def test_notation_renames_some_actions_and_refuses_their_specified_spelling():
    golden = get_game("tic_tac_toe").load_golden()
    module = faulty("tic_tac_toe", "notation")
    state, gstate = module.get_initial_state(), golden.get_initial_state()
    legal, glegal = module.get_legal_actions(state), golden.get_legal_actions(gstate)
    renamed = [g for g, c in zip(glegal, legal) if g != c]
    assert 0 < len(renamed) < len(glegal)
    with pytest.raises(ValueError):
        module.apply_action(state, renamed[0])
    new = legal[glegal.index(renamed[0])]
    assert module.apply_action(state, new) == golden.apply_action(gstate, renamed[0])


def test_no_end_test_misses_some_golden_ends():
    golden, games = golden_games("tic_tac_toe", 40)
    module = faulty("tic_tac_toe", "no_end_test")
    missed = 0
    for actions in games:
        gs, cs = states_along(golden, actions), states_along(module, actions)
        assert golden.get_current_player(gs[-1]) == TERMINAL
        missed += module.get_current_player(cs[-1]) != TERMINAL
    assert 0 < missed < len(games)  # wins are missed, full boards still end the game


@pytest.mark.parametrize("name", ["tic_tac_toe", "kuhn_poker"])
def test_reward_values_differ_at_some_end(name):
    golden, games = golden_games(name)
    module = faulty(name, "reward_values")
    ends = [(golden.get_rewards(states_along(golden, a)[-1]), a) for a in games]
    differ = [
        r for r, a in ends if module.get_rewards(states_along(module, a)[-1]) != list(map(float, r))
    ]
    assert differ and all(min(r) < 0 for r in differ)


def test_raising_getter_raises_before_the_end_only():
    golden, games = golden_games("kuhn_poker", 5)
    module = faulty("kuhn_poker", "raising_getter")
    with pytest.raises(KeyError):
        module.get_rewards(module.get_initial_state())
    for actions in games:
        end = states_along(module, actions)[-1]
        assert module.get_rewards(end) == golden.get_rewards(states_along(golden, actions)[-1])


def test_board_size_grows_the_board():
    for name in ("tic_tac_toe", "connect4"):
        golden = get_game(name).load_golden()
        module = faulty(name, "board_size")
        g, c = golden.get_initial_state()["board"], module.get_initial_state()["board"]
        assert (len(c), len(c[0])) != (len(g), len(g[0])) and len(c) >= len(g)


@pytest.mark.parametrize("name", ["go", "breakthrough", "checkers"])
def test_board_size_is_a_playable_board_of_another_size(name):
    """These goldens spell out their files ("abcde") beside SIZE, so a board one larger
    raises on the initial state: a crash, not a wrong board size. The fault takes the
    board one smaller there, and the module plays whole games."""
    golden, games = golden_games(name, 1)
    module = faulty(name, "board_size")
    assert len(module.get_legal_actions(module.get_initial_state())) != len(
        golden.get_legal_actions(golden.get_initial_state())
    )
    assert module.SIZE == golden.SIZE - 1
    for seed in range(3):
        actions = random_trajectory(module, random.Random(seed), 2000)
        assert module.get_current_player(states_along(module, actions)[-1]) == TERMINAL


def test_board_size_does_not_apply_where_no_size_plays():
    """gen_chess spells its start position out for 5 files: neither 6 nor 4 plays."""
    game = get_game("gen_chess")
    assert inject(game.golden_source, ["board_size"], game) is None
    assert "board_size" not in applicable(game.golden_source, game)


def test_leaky_observation_shows_the_hidden_cards():
    _, games = golden_games("kuhn_poker", 1)
    module = faulty("kuhn_poker", "leaky_observation")
    state = states_along(module, games[0][:2])[-1]  # both cards dealt
    obs = module.get_observations(state)
    assert obs[0]["state"]["cards"] == state["cards"] and obs[1]["state"] == obs[0]["state"]


def test_broken_resample_returns_a_history_of_the_wrong_length():
    module = faulty("kuhn_poker", "broken_resample")
    history = [{"observation": {}, "action": None}, {"observation": {}, "action": None}]
    history += [{"observation": {}, "action": "bet"}, {"observation": {}, "action": None}]
    assert module.resample_history(history, 0) == ["bet"]


def test_chains_are_seeded_and_hold_distinct_faults():
    a = chains(list(FAULTS), 4, 5, random.Random(3))
    assert a == chains(list(FAULTS), 4, 5, random.Random(3))
    assert all(len(c) == 5 == len(set(c)) for c in a) and len({tuple(c) for c in a}) > 1


def test_spearman_matches_scipy_with_ties():
    rng = random.Random(0)
    for _ in range(20):
        x = [float(rng.randint(0, 5)) for _ in range(21)]
        y = [round(rng.random(), 1) for _ in range(21)]
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def _rungs(chains_scores: list[list[float]]) -> list[dict]:
    rungs = [{"chain": None, "k": 0, "score": 1.0}]
    for c, scores in enumerate(chains_scores):
        rungs += [{"chain": c, "k": k, "score": s} for k, s in enumerate(scores, start=1)]
    return rungs


def test_ladders_are_judged_one_by_one_and_pooled():
    # two faults that cost very differently: each ladder falls at every rung (Spearman -1),
    # but pooled, rung 1 of the second chain (0.45) ranks below rung 3 of the first (0.80)
    cheap_first = [0.95, 0.88, 0.80, 0.55, 0.35]
    dear_first = [0.45, 0.40, 0.30, 0.25, 0.20]
    rising = [0.70, 0.50, 0.60, 0.58, 0.30]  # the third fault raises the reward
    s = _stats(_rungs([cheap_first, dear_first, rising]), "score")
    for ladder, scores in zip(s["ladders"], [cheap_first, dear_first, rising]):
        xs = [1.0] + scores
        assert ladder["spearman"] == pytest.approx(stats.spearmanr(range(6), xs).statistic)
        assert ladder["std"] == pytest.approx(float(np.std(xs)))
    assert [x["met"] for x in s["ladders"]] == [True, True, False]
    assert s["ladders_met"] == 2
    assert s["worst_ladder_spearman"] == pytest.approx(max(x["spearman"] for x in s["ladders"]))
    pooled = [1.0] + cheap_first + dear_first + rising
    ks = [0] + [1, 2, 3, 4, 5] * 3
    assert s["spearman"] == pytest.approx(stats.spearmanr(ks, pooled).statistic)
    assert s["spearman"] > -0.9  # the pooled view fails where every ladder is monotone
    flat = _stats(_rungs([[1.0] * 5]), "score")["ladders"][0]  # a ladder of no effect
    assert flat["met"] is False


def test_bench_writes_the_table_json_and_plot(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gamecwm_jax.bench.reward",
            "--games",
            "tic_tac_toe",
            "--chains",
            "2",
            "--fast",
            "--workers",
            "1",
            "--config.illegal_probes=1",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "reward_calibration.json").read_text())["games"][0]
    rungs = result["rungs"]
    assert [r["score"] for r in rungs if r["k"] == 0] == [1.0]
    assert len(rungs) == 1 + 2 * 5 and result["spearman"] < 0
    assert (tmp_path / "reward_calibration.png").stat().st_size > 1000
    assert "| tic_tac_toe |" in (tmp_path / "reward_calibration.md").read_text()
    assert len(result["ladders"]) == 2 and result["ladders_met"] <= 2
    assert not any(r.get("stopped") for r in rungs) and "warning" not in out.stderr
    # a recorded run summarized again (`--from`), without re-verifying: the same figures
    run = json.loads((tmp_path / "reward_calibration.json").read_text())
    for game in run["games"]:
        for key in ("ladders", "ladders_met", "worst_ladder_spearman", "worst_ladder_std"):
            del game[key]
    (tmp_path / "old.json").write_text(json.dumps(run))
    again = subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.bench.reward", "--from", str(tmp_path / "old.json"),
         "--out", str(tmp_path / "again")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    redone = json.loads((tmp_path / "again" / "reward_calibration.json").read_text())["games"][0]
    assert redone["ladders"] == result["ladders"]
    assert (tmp_path / "again" / "reward_calibration.png").stat().st_size > 1000
    broken = subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.bench.reward", "--from", str(tmp_path / "none.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert broken.returncode == 2 and "none.json" in broken.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.bench.reward", "--games", "tic_tac_to"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "tic_tac_toe" in bad.stderr
    typo = subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.bench.reward", "--config.ilegal_probes=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert typo.returncode == 2 and "illegal_probes" in typo.stderr


def _bench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gamecwm_jax.bench.reward", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_candidates_stopped_by_a_time_limit_are_recorded_and_reported(tmp_path):
    """On a machine busy with other jobs the sandbox's time limits can stop a candidate
    (session 13: gen_tic_tac_toe's notation alone scored 0.002 in a run beside two others,
    0.44 alone): such rungs are marked in the JSON and named on stderr, not silently
    ranked."""
    out = _bench(
        tmp_path, "--games", "tic_tac_toe", "--chains", "1", "--fast", "--workers", "1",
        "--config.query_timeout_s=0.001", "--out", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rungs = json.loads((tmp_path / "reward_calibration.json").read_text())["games"][0]["rungs"]
    assert rungs and all(r.get("stopped") == "query timeout" for r in rungs)
    assert f"warning: {len(rungs)} candidates stopped" in out.stderr
    assert "tic_tac_toe chain 0 k=1 (query timeout)" in out.stderr


def test_rescoring_a_recorded_run_equals_running_it_with_that_exponent(tmp_path):
    """`--from run.json --config.reward_exponent=1` rescores the recorded rungs (and each
    fault alone) to what a run with that exponent verifies, without running a candidate."""
    common = ("--games", "tic_tac_toe", "--chains", "1", "--fast", "--workers", "1",
              "--config.illegal_probes=1")  # fmt: skip
    assert RewardConfig().reward_exponent == 1.5
    for name, extra in (("default", ()), ("linear", ("--config.reward_exponent=1.0",))):
        done = _bench(tmp_path, *common, *extra, "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    again = _bench(tmp_path, "--from", str(tmp_path / "default" / "reward_calibration.json"),
                   "--config.reward_exponent=1.0", "--out", str(tmp_path / "rescored"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    runs = {
        name: json.loads((tmp_path / name / "reward_calibration.json").read_text())
        for name in ("default", "linear", "rescored")
    }
    default, linear, rescored = (runs[n]["games"][0] for n in ("default", "linear", "rescored"))
    faulty = [r["score"] for r in default["rungs"] if r["k"] > 0]
    assert faulty and all(0.0 < s < 1.0 for s in faulty)
    for ran, redone, before in zip(linear["rungs"], rescored["rungs"], default["rungs"]):
        assert redone["score"] == pytest.approx(ran["score"], abs=1e-12)
        if 0.0 < before["score"] < 1.0:
            assert redone["score"] > before["score"]  # the linear reward sits higher
    assert rescored["fault_alone"] == pytest.approx(linear["fault_alone"], abs=1e-12)
    for a, b in zip(rescored["ladders"], linear["ladders"], strict=True):
        assert a["met"] == b["met"] and a["std"] == pytest.approx(b["std"], abs=1e-12)
    assert runs["default"]["reward_config"]["reward_exponent"] == 1.5
    assert runs["rescored"]["reward_config"]["reward_exponent"] == 1.0
    assert "rescored from 1.5" in (tmp_path / "rescored" / "reward_calibration.md").read_text()
    refused = _bench(tmp_path, "--from", str(tmp_path / "default" / "reward_calibration.json"),
                     "--config.w_static=1", "--out", str(tmp_path / "refused"))  # fmt: skip
    assert refused.returncode == 2 and "only --config.reward_exponent" in refused.stderr


def test_a_recorded_run_keeps_the_reward_it_was_made_with():
    """Runs record their RewardConfig; fields added since take the value that does what
    the reward did then (session 11's runs had no range checks), not today's default."""
    from gamecwm_jax.bench.reward import _recorded_config

    today = RewardConfig().replace(semantics_range_share=0.25).to_dict()
    assert _recorded_config({"reward_config": today}).semantics_range_share == 0.25
    assert _recorded_config({"reward_config": today}).range_step_budget == 2000
    session_11 = {
        k: v for k, v in today.items() if k not in ("semantics_range_share", "range_step_budget")
    }
    assert _recorded_config({"reward_config": session_11}).semantics_range_share == 0.0
    session_12 = {k: v for k, v in today.items() if k != "range_step_budget"}
    assert _recorded_config({"reward_config": session_12}).range_step_budget == 0
    older = _recorded_config({"reward_exponent": 1.5})
    assert (older.reward_exponent, older.semantics_range_share) == (1.5, 0.0)
    assert _recorded_config({}).reward_exponent == 1.0
