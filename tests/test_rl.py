"""GRPO: an update moves log-probs the right way; kill + resume equals an uninterrupted run."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax import rl
from gamecwm_jax.model import LoraConfig, Qwen2Config, init_lora, init_params, load_lora
from gamecwm_jax.train import data as data_lib
from gamecwm_jax.train.config import make_optimizer
from gamecwm_jax.train.metrics import MetricsLogger, read_jsonl
from gamecwm_jax.train import grpo
from gamecwm_jax.train.step import score_logprobs
from tests.train.fixtures import fake_verifier, tiny_config, tiny_model_dir, workdir  # noqa: F401

CFG = Qwen2Config(
    vocab_size=50,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    tie_word_embeddings=True,
)


@pytest.mark.parametrize("variant,beta", [("grpo", 0.0), ("dr_grpo", 0.1)])
def test_update_raises_positive_and_lowers_negative_completion(variant, beta):
    params = init_params(jax.random.PRNGKey(0), CFG, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=8.0, targets=("q", "v", "up"))
    lora = init_lora(jax.random.PRNGKey(1), params, CFG, lcfg)
    prompt = [5, 6, 7]
    a, b = [10, 11, 12, 13], [20, 21, 22]
    tokens, mask = data_lib.pad_rows([prompt, prompt], [a, b], 4, 4, 0)
    tokens, mask = jnp.asarray(tokens), jnp.asarray(mask)
    temp = jnp.float32(1.0)
    kw = dict(cfg=CFG, lora_cfg=lcfg, prompt_len=4, chunk=2)

    def seq_logp(lora_):
        lp = score_logprobs(params, lora_, tokens, mask, temp, **kw)
        return np.asarray(jnp.sum(lp * mask[:, 4:], axis=1))

    opt, _ = make_optimizer(1e-2, 10, 0.0, "constant", 0.0, 1.0)
    # One micro-batch: the prompt once (U = 1), both completions continuing it.
    batch = {
        "prompt_tokens": tokens[None, :1, :4],
        "prompt_mask": mask[None, :1, :4],
        "row_prompt": jnp.zeros((1, 2), jnp.int32),
        "tokens": tokens[None, :, 4:],
        "mask": mask[None, :, 4:],
        "old_logp": jnp.zeros((1, 2, 4)),
        "adv": jnp.array([[1.0, -1.0]]),
        "weight": jnp.ones((1, 2)),
    }
    spec = grpo.GrpoSpec(
        cfg=CFG, lora_cfg=lcfg, variant=variant, beta=beta, max_completion_len=4, chunk=2
    )
    state, m = grpo.make_update(opt, spec)(  # the update donates its state: pass a copy
        grpo.TrainState(jax.tree.map(jnp.copy, lora), opt.init(lora)), params, batch, temp
    )
    new_lora, gnorm = state.lora, m["grad_norm"]
    before, after = seq_logp(lora), seq_logp(new_lora)
    assert float(gnorm) > 0
    assert after[0] > before[0], (before, after)
    assert after[1] < before[1], (before, after)


def kill_after_step(monkeypatch, logger_cls, step, run):
    """Runs `run()`, killing it (a BaseException, as a signal would) right after `step`'s
    metrics row is written; the logger is restored afterwards."""
    real_log = logger_cls.log

    class Killed(BaseException):
        pass

    def log_then_die(self, s, metrics):
        real_log(self, s, metrics)
        if s == step:
            raise Killed()

    monkeypatch.setattr(logger_cls, "log", log_then_die)
    with pytest.raises(Killed):
        run()
    monkeypatch.setattr(logger_cls, "log", real_log)


def _strip(rows):
    return [
        {
            k: v
            for k, v in r.items()
            if not (k.startswith("time/") or k in ("step_s", "tokens_per_s"))
        }
        for r in rows
    ]


def test_kill_and_resume_equals_uninterrupted(tmp_path, tiny_model_dir, fake_verifier, monkeypatch):
    import shutil

    dirs = {}
    for name in ("straight", "resumed"):
        dirs[name] = str(tmp_path / name)
        shutil.copytree(tiny_model_dir, os.path.join(dirs[name], "base_model"))

    def config(d):
        c = tiny_config(d)
        c.rl.inner_steps = 2  # exercise the clipped re-use of a batch too
        return c

    rl.run(config(dirs["straight"]))

    # "Kill" the second run after step 3 is logged, between the step-2 and step-4
    # checkpoints: the resumed run restarts from 2 and must replay step 3 exactly, with
    # step 3's first metrics row dropped, not kept next to the replayed one.
    kill_after_step(monkeypatch, MetricsLogger, 3, lambda: rl.run(config(dirs["resumed"])))
    rows_killed = read_jsonl(os.path.join(dirs["resumed"], "rl", "metrics.jsonl"))
    assert [r["step"] for r in rows_killed] == [1, 2, 3]
    assert sorted(os.listdir(os.path.join(dirs["resumed"], "rl", "checkpoints"))) == ["2"]
    rl.run(config(dirs["resumed"]))

    a = _strip(read_jsonl(os.path.join(dirs["straight"], "rl", "metrics.jsonl")))
    b = _strip(read_jsonl(os.path.join(dirs["resumed"], "rl", "metrics.jsonl")))
    assert [r["step"] for r in a] == [1, 2, 3, 4]
    assert a == b
    assert any(r["trained_tokens"] > 0 for r in a), "the fake rewards should train something"
    assert any(r["ratio_mean"] not in (None, 1.0) for r in a), "second inner pass sees moved ratios"
    la, _ = load_lora(os.path.join(dirs["straight"], "rl", "adapter"))
    lb, _ = load_lora(os.path.join(dirs["resumed"], "rl", "adapter"))
    for x, y in zip(jax.tree.leaves(la), jax.tree.leaves(lb)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for f in ("rewards.png", "metrics.jsonl"):
        assert os.path.isfile(os.path.join(dirs["straight"], "rl", f))
    assert os.listdir(os.path.join(dirs["straight"], "rl", "tb"))


def test_zero_spread_groups_are_dropped_and_counted(workdir, monkeypatch):
    from tests.train.fixtures import FakeReport, FakeVerifier

    class Constant(FakeVerifier):
        def verify_batch(self, items, seed=0):
            return [FakeReport(0.5, {"static": 1.0}) for _ in items]

    monkeypatch.setattr(rl, "make_verifier", lambda config: Constant())
    c = tiny_config(workdir)
    c.rl.steps, c.rl.beta = 1, 0.0
    m = rl.run(c)
    assert m["frac_zero_spread"] == 1.0 and m["groups_zero_spread"] == 2
    assert m["trained_tokens"] == 0 and m["reward/mean"] == 0.5


def test_zero_spread_groups_keep_their_kl_term_when_beta_is_positive():
    """TRL's choice: with beta > 0 a group of equal rewards stays in the update with
    advantage 0 (its KL term holds the policy near the reference on that prompt)."""
    zero_spread = np.array([True, False])
    adv = np.array([0.0, 0.0, 0.7, -0.7], np.float32)
    np.testing.assert_array_equal(grpo.train_rows(zero_spread, adv, 2, 0.1, 1.0), [1, 1, 1, 1])
    np.testing.assert_array_equal(grpo.train_rows(zero_spread, adv, 2, 0.0, 1.0), [0, 0, 1, 1])
    np.testing.assert_array_equal(grpo.train_rows(zero_spread, adv, 2, 0.0, 0.0), [0, 0, 1, 0])


def test_neg_weight_zero_trains_only_the_better_samples(workdir, monkeypatch):
    """rl.neg_weight = 0 (and no KL): only rows above their group's mean reach the update,
    with their GRPO advantage; 1 (GRPO) trains every row of a mixed group."""
    from tests.train.fixtures import FakeReport, FakeVerifier

    class FirstWins(FakeVerifier):
        def verify_batch(self, items, seed=0):  # prompt-major rows, group size 2
            return [FakeReport(1.0 - i % 2, {"static": 1.0}) for i in range(len(items))]

    seen = []
    real_build = rl.update_batch

    def spy(rollout, keep_rows, adv_n, rc):
        seen.append((list(keep_rows), adv_n[keep_rows].tolist()))
        return real_build(rollout, keep_rows, adv_n, rc)

    monkeypatch.setattr(rl, "make_verifier", lambda config: FirstWins())
    monkeypatch.setattr(rl, "update_batch", spy)
    for neg_weight, rows in ((0.0, [0, 2]), (1.0, [0, 1, 2, 3])):
        c = tiny_config(os.path.join(workdir, f"w{neg_weight}"))
        c.model.path = os.path.join(workdir, "base_model")
        c.rl.steps, c.rl.beta, c.rl.neg_weight = 1, 0.0, neg_weight
        seen.clear()
        rl.run(c)
        assert seen[0][0] == rows
        assert all(a > 0 for a in seen[0][1]) == (neg_weight == 0.0)


def _cli(args, timeout=300):
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


SMALL = [
    "--config.model.tiny.vocab_size=512",
    "--config.model.tiny.hidden_size=32",
    "--config.model.tiny.intermediate_size=64",
    "--config.model.tiny.num_hidden_layers=1",
    "--config.model.tiny.num_attention_heads=2",
    "--config.model.tiny.num_key_value_heads=1",
    "--config.data.prompt_style=name",
    "--config.sft.steps=2",
    "--config.sft.batch_size=2",
    "--config.rl.steps=2",
    "--config.rl.prompts_per_step=2",
    "--config.rl.group_size=2",
    "--config.rl.micro_batch_size=2",
    "--config.rl.max_new_tokens=16",
    "--config.verify.num_workers=1",
    "--config.log.progress=False",
    "--config.checkpoint.every=1",
    "--config.eval.samples=2",
    "--config.eval.max_new_tokens=16",
]


@pytest.mark.slow
def test_small_config_sft_then_grpo_then_eval_cli(tmp_path):
    """The README's command (scaled down by flags): SFT -> GRPO -> export, then eval."""
    workdir = str(tmp_path / "run")
    out = _cli(
        [
            "gamecwm_jax.rl",
            "--config",
            "configs/small_cpu.py",
            f"--config.workdir={workdir}",
            *SMALL,
        ]
    )
    assert "GRPO: 2 steps" in out and "| **all** |" in out  # eval.at_end of small_cpu
    assert os.path.isfile(os.path.join(workdir, "eval", "results.md"))
    rows = read_jsonl(os.path.join(workdir, "rl", "metrics.jsonl"))
    # Step 0: the exact menu probabilities of the policy GRPO starts from (data.menu is set).
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert all(0.0 <= r["menu/p_golden"] <= r["menu/mass"] <= 1.0 for r in rows)
    rows = rows[1:]
    for key in (
        "reward/mean",
        "reward/static",
        "frac_zero_spread",
        "clip_frac",
        "entropy",
        "completion_len/mean",
        "truncated_frac",
        "grad_norm",
        "lr",
        "time/sample_s",
        "time/verify_s",
        "time/update_s",
        "tokens_per_s",
    ):
        assert key in rows[0], key
    assert len(read_jsonl(os.path.join(workdir, "sft", "metrics.jsonl"))) == 2
    for path in (
        "sft/adapter/adapter.safetensors",
        "rl/adapter/adapter.safetensors",
        "rl/rewards.png",
        "export/peft/adapter_model.safetensors",
        "export/merged/model.safetensors",
        "export/merged/tokenizer.json",
    ):
        assert os.path.isfile(os.path.join(workdir, path)), path
    eval_dir = str(tmp_path / "eval")
    out = _cli(
        [
            "gamecwm_jax.eval",
            f"--model={workdir}/export/merged",
            "--games=tic_tac_toe",
            "--samples=2",
            "--max_new_tokens=16",
            "--prompt_style=name",
            "--fast_verify",
            "--num_workers=1",
            "--dtype=float32",
            f"--out={eval_dir}",
        ]
    )
    assert "| **all** |" in out
    for ext in ("md", "csv", "json", "png"):
        assert os.path.isfile(os.path.join(eval_dir, f"results.{ext}"))


@pytest.mark.parametrize(
    "rewards,trend",
    [
        ([0.30, 0.35, 0.32, 0.31, 0.60, 0.62, 0.65, 0.61], "(up:"),
        ([0.60, 0.30, 0.50, 0.35, 0.40, 0.65, 0.30, 0.55], "(flat, within noise:"),
        ([0.70, 0.72, 0.71, 0.69, 0.20, 0.25, 0.22, 0.21], "(down:"),
    ],
)
def test_summary_calls_a_trend_only_beyond_the_noise(tmp_path, rewards, trend):
    os.makedirs(tmp_path / "rl")
    with open(tmp_path / "rl" / "metrics.jsonl", "w") as f:
        for step, r in enumerate(rewards, 1):
            f.write(f'{{"step": {step}, "reward/mean": {r}}}\n')
    line = rl.summarize(str(tmp_path))
    assert line.startswith("GRPO: 8 steps; mean reward of the first 2 step(s)") and trend in line


def test_lr_follows_the_optimizer_count_and_one_update_has_ratio_one(workdir, monkeypatch):
    """Step 1's groups all have equal rewards, so it takes no update; the logged lr must be
    the one each step's update used: schedule(0), schedule(0), schedule(1) for a linear
    decay over 3 updates (the step number would say schedule(1) at step 2). In bf16, with
    one update per batch, the ratio is exactly 1 (old = stopped-gradient current log-probs;
    the sampler's bf16 decode-path log-probs differ from the training forward)."""
    from tests.train.fixtures import FakeReport, FakeVerifier

    class FlatThenMixed(FakeVerifier):
        def verify_batch(self, items, seed=0):  # seed = config.seed * 1_000_003 + step
            if seed == 1:
                return [FakeReport(0.5, {"static": 1.0}) for _ in items]
            return [FakeReport(float(i % 2), {"static": 1.0}) for i in range(len(items))]

    monkeypatch.setattr(rl, "make_verifier", lambda config: FlatThenMixed())
    c = tiny_config(workdir)
    c.model.dtype = "bfloat16"
    c.rl.update(dict(steps=3, beta=0.0, schedule="linear", lr=3e-2, inner_steps=1))
    rl.run(c)
    rows = read_jsonl(os.path.join(workdir, "rl", "metrics.jsonl"))
    assert [r["trained_tokens"] > 0 for r in rows] == [False, True, True]
    np.testing.assert_allclose([r["lr"] for r in rows], [3e-2, 3e-2, 3e-2 * (1 - 1 / 3)], rtol=1e-6)
    assert [r["ratio_mean"] for r in rows[1:]] == [1.0, 1.0]
    assert [r["clip_frac"] for r in rows[1:]] == [0.0, 0.0]


def test_curriculum_and_recomputed_old_logprobs(workdir, fake_verifier, monkeypatch):
    """rl.curriculum: tier-1 games first (epochs_per_tier passes), then tier 2, whatever the
    order they are listed in. rl.old_logprobs="recompute" (with 2 inner updates): the old
    log-probs the update gets come from a fresh pass of the sampling policy: within fp32
    rounding of the sampler's, not bit-identical to them, and not the LoRA-off reference's."""
    from gamecwm_jax.games import get_game

    games = ["kuhn_poker", "go", "tic_tac_toe", "connect4"]
    assert [get_game(g).tier for g in games] == [2, 2, 1, 1]
    seen = []
    real_grad, real_build = grpo.micro_grad, rl.update_batch

    def spy_build(rollout, keep_rows, adv_n, rc):
        b = real_build(rollout, keep_rows, adv_n, rc)
        seen.append({"sampler_old": b["old_logp"], "passed": []})
        return b

    def record(old, ref, mask):
        seen[-1]["passed"].append((np.asarray(old), np.asarray(ref), np.asarray(mask)))

    def spy_grad(lora, params, mb, old, ref, *args):
        # Inside the jitted update: the callback hands the traced values back at run time.
        jax.debug.callback(record, old, ref, mb["mask"])
        return real_grad(lora, params, mb, old, ref, *args)

    monkeypatch.setattr(grpo, "micro_grad", spy_grad)
    monkeypatch.setattr(rl, "update_batch", spy_build)
    c = tiny_config(workdir)
    c.data.train_games = ",".join(games)
    c.rl.update(
        dict(
            steps=4,
            curriculum=True,
            epochs_per_tier=2,
            old_logprobs="recompute",
            inner_steps=2,
            micro_batch_size=4,
        )
    )
    c.rl.lora.update(dict(alpha=64.0, targets="q,v,o,down"))
    rl.run(c)
    rows = read_jsonl(os.path.join(workdir, "rl", "metrics.jsonl"))
    assert [set(r["games"].split(",")) for r in rows] == [{"tic_tac_toe", "connect4"}] * 2 + [
        {"kuhn_poker", "go"}
    ] * 2
    assert len(seen) >= 2, "the fake rewards should train at least two steps"
    late = seen[-1]  # after the adapter has moved, so policy != reference
    old, ref, mask = late["passed"][0]  # the first micro-batch of the first inner update
    m = mask > 0
    sampler_old = late["sampler_old"][0]
    np.testing.assert_allclose(old[m], sampler_old[m], atol=1e-4)
    assert not np.array_equal(old[m], sampler_old[m])
    assert np.abs(old[m] - ref[m]).max() > 1e-3


def test_merged_lora_sampling_draws_the_same_completions():
    """`rl.merge_lora_for_sampling` folds the adapter in before sampling: with the same key
    the completions and their log-probs must be those of LoRA applied on the side (fp32),
    for an adapter that moves the logits (a merge that dropped the scale, or one target,
    changes the tokens)."""
    import ml_collections

    from gamecwm_jax.sampler import Sampler

    cfg = Qwen2Config(**{**CFG.__dict__, "eos_token_id": 1})
    params = init_params(jax.random.PRNGKey(0), cfg, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=8.0, targets=("all",))
    lora = init_lora(jax.random.PRNGKey(1), params, cfg, lcfg)
    lora = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.PRNGKey(2), x.shape), lora)

    class Ids:  # a tokenizer that spells token ids
        eos_token_id, pad_token_id = 1, 0

        def get_vocab(self):
            return {}

        def decode(self, ids, skip_special_tokens=True):
            return " ".join(map(str, ids))

    sampler = Sampler(cfg, Ids(), max_seq_len=64)
    prompts = {"a": [5, 6, 7, 8], "b": [9, 10]}
    rc = ml_collections.ConfigDict(
        dict(group_size=3, max_new_tokens=12, temperature=0.7, merge_lora_for_sampling=True)
    )
    key = jax.random.PRNGKey(3)
    merged = rl.sample(sampler, params, lora, lcfg, prompts, ["a", "b"], key, rc)
    rc.merge_lora_for_sampling = False
    side = rl.sample(sampler, params, lora, lcfg, prompts, ["a", "b"], key, rc)
    base = sampler(params, [prompts["a"], prompts["b"]], key=key, num_samples=3,
                   max_new_tokens=12, temperature=0.7)  # fmt: skip
    assert not np.array_equal(base.tokens, side.out.tokens)  # the adapter matters here
    np.testing.assert_array_equal(merged.out.tokens, side.out.tokens)
    np.testing.assert_allclose(merged.out.logprobs, side.out.logprobs, atol=1e-4)
    assert merged.texts == side.texts and merged.games == side.games
