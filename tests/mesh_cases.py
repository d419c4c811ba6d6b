"""The computations tests/test_mesh.py compares across device meshes.

Run in a fresh interpreter with 8 forced host devices (XLA_FLAGS must be set before
JAX starts, and the rest of the suite runs on 1 device):

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.mesh_cases OUT.npz

For every mesh in MESHES (the first, 1x1x1, on one device, is the reference) it runs
one SFT step, one GRPO step and greedy sampling through the trainer's own functions,
with params / LoRA / optimizer state / batches placed by gamecwm_jax.parallel, and a
checkpoint saved on one mesh and resumed on another. Everything it measured goes into
one .npz (key "<mesh>/<case>/<name>"); the tests only compare numbers.
"""

from __future__ import annotations

import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gamecwm_jax import parallel
from gamecwm_jax.model import LoraConfig, Qwen2Config, init_lora, init_params
from gamecwm_jax.sampler import sample
from gamecwm_jax.train.checkpoint import init_or_restore, train_state
from gamecwm_jax.train.config import make_optimizer
from gamecwm_jax.train.step import make_update, sft_grad, tree_add

MESHES = [(1, 1, 1), (8, 1, 1), (2, 4, 1), (2, 2, 2), (1, 1, 8)]
# 8 query / 4 KV heads: tensor=2 splits both, tensor=8 splits query heads and falls
# back to replicated KV heads (4 do not split 8 ways); untied head: vocab split too.
CFG = Qwen2Config(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=8,
    num_key_value_heads=4,
    rope_theta=1e4,
    tie_word_embeddings=False,
    eos_token_id=255,
    attn_block=8,  # the query-blocked attention path runs too (sequences of 24)
)
LCFG = LoraConfig(rank=4, alpha=16.0, targets=("all",))
ROWS, PROMPT, COMP = 16, 8, 16  # two micro-batches of 8 rows; 8 divides every mesh's rows
MICRO = 8
TEMP = 0.7


def name(shape: tuple[int, int, int]) -> str:
    return "x".join(map(str, shape))


def mesh_of(shape: tuple[int, int, int]):
    n = int(np.prod(shape))
    return parallel.make_mesh(*shape, devices=jax.devices()[:n])


def model():
    """fp32 weights scaled so logits are O(1), an adapter with B != 0, a batch."""
    params = init_params(jax.random.PRNGKey(0), CFG, jnp.float32)
    params = jax.tree.map(lambda x: x * 3, params)
    lora = init_lora(jax.random.PRNGKey(1), params, CFG, LCFG)
    lora = {
        t: {"a": ab["a"], "b": 0.01 * jax.random.normal(jax.random.PRNGKey(10 + i), ab["b"].shape)}
        for i, (t, ab) in enumerate(lora.items())
    }
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, CFG.vocab_size - 1, (ROWS, PROMPT + COMP)).astype(np.int32)
    p_len = rng.integers(2, PROMPT + 1, ROWS)  # left-padded prompts of several lengths
    c_len = rng.integers(3, COMP + 1, ROWS)  # right-padded completions
    cols = np.arange(PROMPT + COMP)
    mask = ((cols >= PROMPT - p_len[:, None]) & (cols < PROMPT + c_len[:, None])).astype(np.int32)
    batch = {
        "tokens": tokens,
        "mask": mask,
        "adv": rng.normal(size=ROWS).astype(np.float32),
        "weight": np.r_[np.ones(ROWS - 3), np.zeros(3)].astype(np.float32),  # 3 padding rows
    }
    return params, lora, batch


# The trainer's AdamW. Its first step moves each entry by ~lr * sign(gradient), so an
# entry whose gradient is ~0 can move either way on a different mesh (reduction order):
# the adapter's differences scale with lr; the gradients are compared directly too.
LR = 1e-4


def optimizer():
    return make_optimizer(LR, 10, 0.0, "constant", 0.0, 1.0)[0]


def sft_step(mesh, params, lora, opt_state, batch, update):
    """One SFT optimizer step over two micro-batches, as sft.run_sft takes it."""
    grad_sum, num, den = None, 0.0, 0.0
    for i in range(ROWS // MICRO):
        rows = {k: batch[k][i * MICRO : (i + 1) * MICRO] for k in ("tokens", "mask")}
        rows = parallel.shard_rows(rows, mesh)
        g, n, d = sft_grad(
            lora, params, rows["tokens"], rows["mask"], None,
            cfg=CFG, lora_cfg=LCFG, prompt_len=PROMPT, chunk=8, remat=True,
        )  # fmt: skip
        grad_sum = g if grad_sum is None else tree_add(grad_sum, g)
        num, den = num + n, den + d
    grad = jax.tree.map(lambda g: g / den, grad_sum)
    lora, opt_state, gnorm = update(lora, opt_state, grad_sum, den)
    return lora, opt_state, float(num / den), float(gnorm), grad


def grpo_step(mesh, params, lora, opt_state, batch, update):
    """One GRPO update through the trainer's own pieces: `grpo.build_batch` (4 prompts of
    different lengths x 4 completions, 13 rows kept so 3 are padding), `grpo.place_batch`
    and the pure `grpo.make_update` (reference pass with beta > 0, scan over 2
    micro-batches, AdamW)."""
    from gamecwm_jax.sampler import SampleOutput
    from gamecwm_jax.train import grpo

    g = 4
    n_prompts = ROWS // g
    comp_len = batch["mask"][:, PROMPT:].sum(1).astype(np.int32)
    rollout = SampleOutput(
        tokens=batch["tokens"][:, PROMPT:],
        logprobs=np.zeros((ROWS, COMP), np.float32),
        logprobs_raw=np.zeros((ROWS, COMP), np.float32),
        lengths=comp_len,
        truncated=np.zeros(ROWS, bool),
        prompt_tokens=batch["tokens"][::g, :PROMPT],
        prompt_mask=batch["mask"][::g, :PROMPT],
        num_samples=g,
    )
    assert rollout.prompt_tokens.shape[0] == n_prompts
    keep = np.arange(ROWS - 3)
    host = grpo.build_batch(rollout, keep, batch["adv"], MICRO, COMP)
    spec = grpo.GrpoSpec(
        cfg=CFG, lora_cfg=LCFG, beta=0.1, max_completion_len=COMP, chunk=8, remat=True
    )
    step = grpo.make_update(optimizer(), spec)
    state = grpo.TrainState(jax.tree.map(jnp.copy, lora), opt_state)  # the update donates it
    state, m = step(state, params, grpo.place_batch(host, mesh), jnp.float32(TEMP))
    m = jax.device_get(m)
    return state.lora, state.opt_state, float(m["loss"]), float(m["grad_norm"]), None


def flat(tree) -> dict[str, np.ndarray]:
    return {
        jax.tree_util.keystr(p): np.asarray(x)
        for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def run_mesh(shape, out: dict[str, np.ndarray]) -> None:
    mesh = mesh_of(shape)
    key = name(shape)
    params0, lora0, batch = model()
    opt = optimizer()
    update = make_update(opt)
    with jax.set_mesh(mesh):
        params = parallel.shard_params(params0, CFG, mesh)
        lora = parallel.replicate(lora0, mesh)
        q_w = params["layers"]["q_w"]
        out[f"{key}/layout/q_w_shard"] = np.asarray(q_w.addressable_shards[0].data.shape)
        out[f"{key}/layout/k_w_shard"] = np.asarray(
            params["layers"]["k_w"].addressable_shards[0].data.shape
        )
        for case, step in (("sft", sft_step), ("grpo", grpo_step)):
            opt_state = parallel.replicate(opt.init(lora0), mesh)
            new_lora, _, loss, gnorm, grad = step(mesh, params, lora, opt_state, batch, update)
            out[f"{key}/{case}/loss"] = np.float64(loss)
            out[f"{key}/{case}/grad_norm"] = np.float64(gnorm)
            for k, v in flat(new_lora).items():
                out[f"{key}/{case}/lora{k}"] = v
            for k, v in flat(grad).items() if grad is not None else ():
                out[f"{key}/{case}/grad{k}"] = v
        prompts = [list(range(1, 9)), [40, 41, 42], [7] * 5, [100, 3]]
        s = sample(
            params, CFG, prompts, key=jax.random.PRNGKey(3), num_samples=2, max_new_tokens=12,
            greedy=True, lora=lora, lora_cfg=LCFG, eos_ids=(255,), pad_id=0,
        )  # fmt: skip
        out[f"{key}/greedy/tokens"] = s.tokens
        out[f"{key}/greedy/lengths"] = s.lengths
        out[f"{key}/greedy/logprobs"] = s.logprobs


def run_checkpoint(out: dict[str, np.ndarray]) -> None:
    """Step 1 on 2x2x2, saved; resumed on 1x1x8 and on one device for step 2; and the
    same two steps uninterrupted on one device."""
    params0, lora0, batch = model()
    opt = optimizer()
    update = make_update(opt)
    config = ml_collections.ConfigDict({"checkpoint": {"every": 1, "keep": 2}})
    rng0 = jax.random.PRNGKey(7)

    def steps(mesh, directory, n_steps):
        with jax.set_mesh(mesh):
            params = parallel.shard_params(params0, CFG, mesh)
            ckpt, lora, opt_state, rng, start = init_or_restore(
                directory, config, lora0, opt, rng0, mesh=mesh
            )
            restored = flat({"lora": lora, "opt_state": opt_state, "rng": rng})
            for step in range(start + 1, start + n_steps + 1):
                rng, _ = jax.random.split(rng)
                lora, opt_state, loss, *_ = sft_step(mesh, params, lora, opt_state, batch, update)
                ckpt.save(step, train_state(lora, opt_state, rng, step), {"step": step})
            ckpt.close()
            return start, restored, flat({"lora": lora, "opt_state": opt_state, "rng": rng}), loss

    with tempfile.TemporaryDirectory(prefix="mesh_ckpt_") as root:
        _, _, saved, _ = steps(mesh_of((2, 2, 2)), os.path.join(root, "a"), 1)
        _, _, want, loss_want = steps(mesh_of((1, 1, 1)), os.path.join(root, "ref"), 2)
        out["ckpt/uninterrupted/loss"] = np.float64(loss_want)
        for k, v in want.items():
            out[f"ckpt/uninterrupted/state{k}"] = v
        for k, v in saved.items():
            out[f"ckpt/saved/state{k}"] = v
        for target in ((1, 1, 8), (1, 1, 1)):
            import shutil

            d = os.path.join(root, name(target))
            shutil.copytree(os.path.join(root, "a"), d)
            start, restored, got, loss = steps(mesh_of(target), d, 1)
            out[f"ckpt/{name(target)}/start"] = np.int64(start)
            out[f"ckpt/{name(target)}/loss"] = np.float64(loss)
            for k, v in restored.items():
                out[f"ckpt/{name(target)}/restored{k}"] = v
            for k, v in got.items():
                out[f"ckpt/{name(target)}/state{k}"] = v


def main(path: str) -> None:
    assert jax.device_count() >= 8, f"needs 8 devices, got {jax.devices()}"
    out: dict[str, np.ndarray] = {}
    only = os.environ.get("MESH_CASES_ONLY")  # e.g. "1x1x1,2x2x2" while debugging
    for shape in MESHES:
        if not only or name(shape) in only.split(","):
            run_mesh(shape, out)
    if not only:
        run_checkpoint(out)
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
