"""The program menu (train/menu.py), the control option (train/control.py) and the plots."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.games import get_game
from gamecwm_jax.train import menu as menu_lib
from gamecwm_jax.train.control import control_rewards

SPEC = "tic_tac_toe:turn_not_passed+apply_mutates_input"


def _mutant(game, name):
    muts = json.loads((get_game(game).path / "mutants.json").read_text())
    return next(m for m in muts if m["name"] == name)


def test_menu_is_every_subset_of_the_named_mutants_golden_first():
    menu = menu_lib.build_menu(
        SPEC + ";matching_pennies:apply_mutates_input", ["tic_tac_toe", "matching_pennies"]
    )
    assert [(p.game, p.name) for p in menu] == [
        ("tic_tac_toe", "golden"),
        ("tic_tac_toe", "turn_not_passed"),
        ("tic_tac_toe", "apply_mutates_input"),
        ("tic_tac_toe", "turn_not_passed+apply_mutates_input"),
        ("matching_pennies", "golden"),
        ("matching_pennies", "apply_mutates_input"),
    ]
    golden = get_game("tic_tac_toe").golden_source
    assert menu[0].completion == f"```python\n{golden.rstrip()}\n```"
    a, b = _mutant("tic_tac_toe", "turn_not_passed"), _mutant("tic_tac_toe", "apply_mutates_input")
    # Independent check: which replacement texts each program holds.
    for prog in menu[:4]:
        for m in (a, b):
            applied = m["name"] in prog.mutants
            assert (m["replace"] in prog.completion) == applied, (prog.name, m["name"])
            assert (m["find"] in prog.completion) == (not applied), (prog.name, m["name"])


def test_game_without_menu_entry_gets_its_golden_alone():
    menu = menu_lib.build_menu(SPEC, ["tic_tac_toe", "pig"])
    assert [(p.game, p.name) for p in menu][-1] == ("pig", "golden")
    assert len(menu) == 5


@pytest.mark.parametrize(
    "spec,match",
    [
        ("tic_tac_toe:no_such_mutant", "unknown mutant"),
        ("connect4:missing_anti_diagonal", "not trained on"),
        ("tic_tac_toe", "not 'game:mutant"),
        ("tic_tac_toe:", "names no mutant"),
        ("tic_tac_toe:turn_not_passed;tic_tac_toe:apply_mutates_input", "twice"),
    ],
)
def test_bad_menu_specs_are_reported(spec, match):
    with pytest.raises(menu_lib.MenuError, match=match):
        menu_lib.build_menu(spec, ["tic_tac_toe"])


def test_sft_examples_one_per_program_with_eos(workdir):
    from gamecwm_jax.model import load_tokenizer
    from gamecwm_jax.train import data as data_lib

    tok = load_tokenizer(os.path.join(workdir, "base_model"))
    menu = menu_lib.build_menu(SPEC, ["tic_tac_toe"])
    ex = menu_lib.sft_examples(tok, menu, 1 << 20, True, "name")
    assert len(ex) == 4 and len({e.prompt for e in ex}) == 1
    for e, p in zip(ex, menu):
        assert e.target[-1] == data_lib.eos_id(tok)
        assert tok.decode(list(e.target[:-1])) == p.completion
    with pytest.raises(menu_lib.MenuError, match="max_len"):
        menu_lib.sft_examples(tok, menu, 100, True, "name")


def test_probe_equals_a_full_softmax_computation(workdir):
    """log P_T(program) from the chunked pass vs full logits, log-softmax and gather in NumPy."""
    from gamecwm_jax.model import forward, init_lora, load_pretrained, load_tokenizer
    from gamecwm_jax.train.logprobs import positions_from_mask

    base = os.path.join(workdir, "base_model")
    tok = load_tokenizer(base)
    cfg, params = load_pretrained(base, dtype=jnp.float32)
    menu = menu_lib.build_menu("tic_tac_toe:turn_not_passed", ["tic_tac_toe"])
    probe = menu_lib.MenuProbe.build(tok, menu, True, "name", bucket=32)
    from gamecwm_jax.model import LoraConfig

    lcfg = LoraConfig(rank=2, alpha=4.0, dropout=0.0, targets=("q", "v"))
    lora = init_lora(jax.random.PRNGKey(0), params, cfg, lcfg)
    lora = jax.tree.map(lambda x: x + 0.05, lora)  # B != 0: the adapter must matter
    temperature = 0.7
    got = probe.logprobs(params, cfg, temperature, lora, lcfg, chunk=64)

    tokens, mask = jnp.asarray(probe.tokens), jnp.asarray(probe.mask)
    logits, _ = forward(
        params, cfg, tokens, positions_from_mask(mask), mask, lora=lora, lora_cfg=lcfg
    )
    logits = np.asarray(logits, np.float64) / temperature
    p = probe.prompt_len
    want = []
    for i in range(len(menu)):
        lse = np.log(np.exp(logits[i] - logits[i].max(-1, keepdims=True)).sum(-1)) + logits[i].max(
            -1
        )
        lp = logits[i, np.arange(p - 1, tokens.shape[1] - 1), probe.tokens[i, p:]] - lse[p - 1 : -1]
        want.append(float((lp * probe.mask[i, p:]).sum()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert abs(got[0] - got[1]) > 1e-3  # two different programs, two different values


def test_menu_metrics_sum_per_game():
    menu = menu_lib.build_menu(
        SPEC + ";matching_pennies:apply_mutates_input", ["tic_tac_toe", "matching_pennies"]
    )
    probs = np.array([0.4, 0.2, 0.1, 0.05, 0.6, 0.3])
    scores = np.array([1.0, 0.5, 0.2, 0.1, 1.0, 0.2])
    m = menu_lib.menu_metrics(menu, np.log(probs), scores)
    assert m["menu/p_golden"] == pytest.approx((0.4 + 0.6) / 2)
    assert m["menu/mass"] == pytest.approx((0.75 + 0.9) / 2)
    e_ttt = 0.4 + 0.1 + 0.02 + 0.005
    assert m["menu/expected_reward"] == pytest.approx((e_ttt + 0.6 + 0.06) / 2)
    assert m["menu/p/tic_tac_toe/turn_not_passed"] == pytest.approx(0.2)


def test_control_shuffle_permutes_within_groups_only():
    r = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.7, 0.6])
    s = control_rewards(r, 4, "shuffle", seed=0, step=1)
    for g in range(2):
        assert sorted(s[4 * g : 4 * g + 4]) == sorted(r[4 * g : 4 * g + 4])
    assert not np.array_equal(s, r)
    assert np.array_equal(s, control_rewards(r, 4, "shuffle", seed=0, step=1))  # resumable
    draws = {tuple(control_rewards(r, 4, "shuffle", seed=0, step=k)) for k in range(20)}
    assert len(draws) > 10
    assert np.array_equal(control_rewards(r, 4, "none", 0, 1), r)
    z = control_rewards(r, 4, "zero", 0, 1)
    assert np.allclose(z, [0.25] * 4 + [0.75] * 4)
    with pytest.raises(ValueError, match="control"):
        control_rewards(r, 4, "bogus", 0, 1)


def test_plots_draw_runs_and_controls(tmp_path):
    from gamecwm_jax.train import plots

    for name, rise in (("run_s0", 0.5), ("control_s0", 0.0)):
        d = tmp_path / name / "rl"
        os.makedirs(d)
        with open(d / "metrics.jsonl", "w") as f:
            for step in range(0, 9):
                row = {"step": step, "menu/p_golden": 0.25 + rise * step / 8}
                if step:
                    row["reward/mean"] = 0.5 + rise * step / 16
                f.write(json.dumps(row) + "\n")
    out = plots.plot_runs(
        [str(tmp_path / "run_s0"), str(tmp_path / "control_s0")], str(tmp_path / "x.png")
    )
    assert os.path.getsize(out) > 1000
    np.testing.assert_allclose(plots.trailing_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    with pytest.raises(FileNotFoundError):
        plots.metrics_path(str(tmp_path / "nothing"))


def test_learning_table_quarters_and_rows(tmp_path):
    import statistics

    from gamecwm_jax.bench import learning

    rewards = [0.30, 0.40, 0.20, 0.50, 0.5, 0.6, 0.9, 0.8]
    t = learning.quarter_trend(rewards)
    assert t["first"] == pytest.approx(0.35) and t["last"] == pytest.approx(0.85)
    se = (statistics.variance([0.3, 0.4]) / 2 + statistics.variance([0.9, 0.8]) / 2) ** 0.5
    assert t["two_se"] == pytest.approx(2 * se)
    for name, p_end in (("run_s0", 0.8), ("run_s1", 0.7), ("control_s0", 0.2)):
        os.makedirs(tmp_path / name / "rl")
        with open(tmp_path / name / "rl" / "metrics.jsonl", "w") as f:
            f.write(json.dumps({"step": 0, "menu/p_golden": 0.25}) + "\n")
            for i, r in enumerate(rewards):
                row = {"step": i + 1, "reward/mean": r, "menu/p_golden": p_end}
                f.write(json.dumps(row) + "\n")
    rows = {
        n: learning.summarize_run(str(tmp_path / n)) for n in ("run_s0", "run_s1", "control_s0")
    }
    assert rows["run_s0"]["p_golden_start"] == 0.25 and rows["run_s0"]["steps"] == 8
    md = learning.table(rows)
    assert "| run_s0 | 8 | 0.350 | 0.850 | +0.500 |" in md
    assert "**+0.500 +- 0.000**" in md and "**+0.500 +- 0.071**" in md  # rises 0.55, 0.45
    assert "control, mean" not in md  # one control seed: no spread to report
