"""GRPO wired end to end: the trainer's own loop against an independent computation.

The unit tests check each piece (losses vs NumPy, sampler log-probs vs a forward pass);
these check that the pieces are connected right: the sampled batch, its layout, the
temperature the old / new / reference log-probs are taken at, the LoRA-off reference,
advantages, normalisation over micro-batches and padding rows, clipping and the AdamW
step. The reference side is written without the project's model or loss code: PyTorch
(float64) runs the transformers Qwen2 on each row's *unpadded* tokens with the adapter
added by hooks, and the objective and optimizer are transcribed from their definitions.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from gamecwm_jax import rl
from gamecwm_jax.model import LoraConfig, Qwen2Config, init_lora, init_params, load_lora
from gamecwm_jax.sampler import sample
from gamecwm_jax.train import grpo
from tests.train.fixtures import (  # noqa: F401
    FakeReport,
    FakeVerifier,
    tiny_config,
    tiny_model_dir,
    workdir,
)

T = 0.7  # every path must use the sampling temperature; T = 1 would hide mix-ups
CLIP_LOW, CLIP_HIGH = 0.2, 0.28  # different, so swapped bounds show
ADV_EPS = 1e-4
# rewards per step, prompt-major (3 prompts x G = 2): two mixed groups and one with equal
# rewards, which keeps only its KL term (beta > 0)
REWARDS = [1.0, 0.0, 0.3, 0.9, 0.5, 0.5]


class Scripted(FakeVerifier):
    def verify_batch(self, items, seed=0):
        assert len(items) == len(REWARDS)
        return [FakeReport(r, {"static": r}) for r in REWARDS]


# ----------------------------------------------------------------------------- reference


class TorchPolicy:
    """transformers' Qwen2 in float64 with LoRA deltas added by forward hooks.

    delta(x) = (x @ A[l]) @ B[l] * alpha / rank on each targeted projection (the
    definition in the LoRA paper, PEFT's default scaling)."""

    HF_NAMES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
                "down": "mlp.down_proj"}  # fmt: skip

    def __init__(self, model_dir: str, lora_cfg: LoraConfig):
        from transformers import Qwen2ForCausalLM

        self.model = Qwen2ForCausalLM.from_pretrained(model_dir, dtype=torch.float64).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.scale = lora_cfg.alpha / lora_cfg.rank
        self.lora: dict[str, dict[str, torch.Tensor]] | None = None
        for i, layer in enumerate(self.model.model.layers):
            for t in lora_cfg.targets:
                module = layer.get_submodule(self.HF_NAMES[t])
                module.register_forward_hook(self._hook(t, i))

    def _hook(self, target: str, layer: int):
        def hook(module, inputs, output):
            if self.lora is None:
                return output
            ab = self.lora[target]
            return output + (inputs[0] @ ab["a"][layer]) @ ab["b"][layer] * self.scale

        return hook

    def logprobs(self, prompt: list[int], completion: list[int], lora) -> torch.Tensor:
        """log softmax(logits / T)[token] of each completion token, one unpadded row."""
        self.lora = lora
        ids = torch.tensor([prompt + completion])
        logits = self.model(input_ids=ids).logits[0, len(prompt) - 1 : -1] / T
        logp = torch.log_softmax(logits, -1)
        return logp.gather(1, torch.tensor(completion)[:, None])[:, 0]


def reference_update(policy, rows, lora0, rewards, g, c):
    """The GRPO step of `c.rl`, from its definition: `inner_steps` AdamW updates.

    Returns the adapter after them and the gradient norm (before clipping) of each."""
    rc = c.rl
    r = np.asarray(rewards, np.float64).reshape(-1, g)
    spread = r.max(1) > r.min(1)
    adv = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + ADV_EPS)
    adv = np.where(spread[:, None], adv, 0.0).reshape(-1)

    as_t = lambda tree: {
        t: {m: torch.tensor(np.asarray(x, np.float64)) for m, x in ab.items()}
        for t, ab in tree.items()
    }
    lora = as_t(lora0)
    with torch.no_grad():
        old = [policy.logprobs(p, comp, lora) for p, comp in rows]
        ref = [policy.logprobs(p, comp, None) for p, comp in rows]
    norms = []
    mom = {t: {m: torch.zeros_like(x) for m, x in ab.items()} for t, ab in lora.items()}
    vel = {t: {m: torch.zeros_like(x) for m, x in ab.items()} for t, ab in lora.items()}
    total = rc.steps * rc.inner_steps
    for k in range(1, rc.inner_steps + 1):
        params = [x.requires_grad_(True) for ab in lora.values() for x in ab.values()]
        loss = 0.0
        for (p, comp), a, lp_old, lp_ref in zip(rows, adv, old, ref):
            lp = policy.logprobs(p, comp, lora)
            ratio = torch.exp(lp - lp_old)
            pg = -torch.minimum(ratio * a, torch.clamp(ratio, 1 - CLIP_LOW, 1 + CLIP_HIGH) * a)
            d = lp_ref - lp
            kl = torch.exp(d) - d - 1
            loss = loss + (pg + rc.beta * kl).mean()  # per-sequence mean ...
        loss = loss / len(rows)  # ... then the mean over sequences ("grpo")
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum((gr**2).sum() for gr in grads))
        norms.append(float(norm))
        clip = min(1.0, rc.max_grad_norm / float(norm))
        lr = rc.lr * (1 - (k - 1) / total)  # linear decay to 0 over all updates
        with torch.no_grad():
            it = iter(grads)
            new = {}
            for t, ab in lora.items():
                new[t] = {}
                for m, x in ab.items():
                    gr = next(it) * clip
                    mom[t][m] = 0.9 * mom[t][m] + 0.1 * gr
                    vel[t][m] = 0.999 * vel[t][m] + 0.001 * gr**2
                    mhat, vhat = mom[t][m] / (1 - 0.9**k), vel[t][m] / (1 - 0.999**k)
                    step = mhat / (torch.sqrt(vhat) + 1e-8) + rc.weight_decay * x
                    new[t][m] = (x - lr * step).detach()
        lora = new
    return {t: {m: x.numpy() for m, x in ab.items()} for t, ab in lora.items()}, norms


# ----------------------------------------------------------------------------- tests


def test_one_grpo_step_equals_an_independent_computation(workdir, monkeypatch):
    """One GRPO step of the trainer (T = 0.7, beta = 0.1, 2 inner updates so the ratio and
    the clip act, 6 rows in micro-batches of 4 so two rows are padding, left-padded
    prompts of two lengths) lands on the adapter the reference computes."""
    c = tiny_config(workdir)
    c.data.train_games = "tic_tac_toe,connect4,go"  # prompts of 111, 106, 101 tokens
    c.rl.update(
        dict(
            steps=1,
            prompts_per_step=3,
            group_size=2,
            micro_batch_size=4,
            inner_steps=2,
            beta=0.1,
            temperature=T,
            clip_eps_low=CLIP_LOW,
            clip_eps_high=CLIP_HIGH,
            adv_eps=ADV_EPS,
            lr=0.1,
            schedule="linear",
            weight_decay=0.1,
            max_grad_norm=0.5,
            loss="grpo",
        )
    )
    c.rl.lora.update(dict(rank=4, alpha=64.0, targets="q,v,o,down"))
    seen = {}
    real_init, real_build = rl.init_or_restore, rl.update_batch

    def spy_init(directory, config, lora, optimizer, rng, mesh=None):
        # Start from an adapter with B != 0, so that "the current LoRA" and "LoRA off"
        # differ already when the step's reference log-probs are taken.
        lora = {
            t: {"a": ab["a"], "b": 0.02 * jax.random.normal(jax.random.key(i), ab["b"].shape)}
            for i, (t, ab) in enumerate(lora.items())
        }
        seen["lora0"] = jax.tree.map(np.asarray, lora)
        return real_init(directory, config, lora, optimizer, rng, mesh=mesh)

    def spy_build(rollout, keep_rows, adv_n, rc):
        seen["out"], seen["keep"] = rollout.out, keep_rows
        b = real_build(rollout, keep_rows, adv_n, rc)
        seen["weight"] = b["weight"].reshape(-1)
        return b

    monkeypatch.setattr(rl, "make_verifier", lambda config: Scripted())
    monkeypatch.setattr(rl, "init_or_restore", spy_init)
    monkeypatch.setattr(rl, "update_batch", spy_build)
    metrics = rl.run(c)
    got, lcfg = load_lora(os.path.join(workdir, "rl", "adapter"))

    out, g = seen["out"], c.rl.group_size
    assert list(seen["keep"]) == list(range(6)) and seen["weight"].tolist() == [1] * 6 + [0] * 2
    assert len(set(out.prompt_mask.sum(1).tolist())) > 1, "prompts of different lengths"
    rows = [
        (
            out.prompt_tokens[i // g][out.prompt_mask[i // g] == 1].tolist(),
            out.completion(i),
        )
        for i in range(len(REWARDS))
    ]
    policy = TorchPolicy(os.path.join(workdir, "base_model"), lcfg)
    want, norms = reference_update(policy, rows, seen["lora0"], REWARDS, g, c)
    # Adam hides the gradient's scale (and clipping is inactive below max_grad_norm), so
    # the logged norm of the first update is what shows the normalisation.
    np.testing.assert_allclose(metrics["grad_norm"], norms[0], rtol=1e-3)

    assert metrics["clip_frac"] > 0, "the second update should clip some tokens"
    # fp32 trainer vs float64 reference: Adam divides by sqrt(v), so entries with tiny
    # gradients amplify rounding; measured max 3.4e-5. The update itself moves entries by
    # up to ~2 lr (two steps), and each planted wiring bug moves them by >= 1e-3.
    worst = moved = 0.0
    for t in want:
        for m in ("a", "b"):
            a, b = np.asarray(got[t][m]), want[t][m]
            moved = max(moved, float(np.abs(b - seen["lora0"][t][m]).max()))
            worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 2e-4, worst
    assert moved > 0.05  # the update is large next to the tolerance


CFG = Qwen2Config(
    vocab_size=300,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rope_theta=1e6,
    tie_word_embeddings=False,
    eos_token_id=299,
)


@pytest.mark.parametrize(
    "dtype,max_tol,mean_tol",
    # bf16: measured max 0.066, mean 0.011 nats (decode path vs training forward); the
    # bounds are 2x that. A temperature or alignment mix-up moves log-probs by ~0.5.
    [(jnp.float32, 5e-5, 1e-5), (jnp.bfloat16, 0.13, 0.025)],
    ids=["fp32", "bf16"],
)
def test_sampler_batch_and_trainer_logprobs_agree(dtype, max_tol, mean_tol):
    """sampler -> grpo.build_batch -> the trainer's scoring: the old log-probs the batch
    carries are the ones the training forward gives the same rows (left-padded prompts of
    three lengths, an adapter with B != 0, T != 1, top-p on)."""
    params = init_params(jax.random.PRNGKey(0), CFG, jnp.float32)
    params = jax.tree.map(lambda x: (x * 4).astype(dtype), params)  # logits ~ N(0, 1)
    lcfg = LoraConfig(rank=4, alpha=8.0, targets=("q", "v", "down"))
    lora = init_lora(jax.random.PRNGKey(1), params, CFG, lcfg)
    lora = {
        t: {"a": ab["a"], "b": 0.05 * jax.random.normal(jax.random.PRNGKey(i), ab["b"].shape)}
        for i, (t, ab) in enumerate(lora.items())
    }
    prompts = [list(range(1, 14)), [40, 41], [100, 101, 102, 103, 104]]
    out = sample(
        params,
        CFG,
        prompts,
        key=jax.random.PRNGKey(2),
        num_samples=2,
        max_new_tokens=20,
        temperature=T,
        top_p=0.9,
        lora=lora,
        lora_cfg=lcfg,
        eos_ids=(299,),
        pad_id=0,
    )
    # Micro-batches of 4 rows: the second holds the rest of group 2 and group 3 (U = 2).
    b = grpo.build_batch(out, np.arange(6), np.ones(6, np.float32), 4, 20)
    spec = grpo.GrpoSpec(cfg=CFG, lora_cfg=lcfg, chunk=8)
    lp = np.stack(
        [
            grpo.micro_logprobs(
                params, lora, jax.tree.map(lambda x: jnp.asarray(x[i]), b), jnp.float32(T), spec
            )[0]
            for i in range(len(b["tokens"]))
        ]
    )
    m = b["mask"] * b["weight"][..., None]
    diff = np.abs(lp * m - b["old_logp"])[m > 0]
    assert diff.max() < max_tol and diff.mean() < mean_tol, (diff.max(), diff.mean())
