"""The GRPO update: one pure, jitted function of (state, params, batch).

    state, metrics = update(state, params, batch, temperature)

`state` is the LoRA and its optimizer state; `params` the frozen base (also the KL
reference, with LoRA off); `batch` the sampled rows of one step, already split into
micro-batches: every leaf has leading axes [M, ...] (`build_batch`). Inside one XLA
program: the reference log-probs of every micro-batch (and, with `inner_steps > 1`, the
old ones), then `inner_steps` times a `lax.scan` over the micro-batches that sums the
loss numerators, denominators and their LoRA gradients (exact accumulation, losses.py)
followed by one AdamW step. Nothing returns to the host between micro-batches, and a
mesh can shard the batch rows (axis 1 of every leaf) without touching this code.

Each micro-batch holds its distinct prompts once ([M, U, Tp]) and its completions
([M, R, C]) with the prompt row each continues: the prompts run once per micro-batch,
not once per sample (`logprobs.shared_prompt_logprobs`). With G samples a prompt that
removes (G - 1) / G of the prompt work from every pass, reference pass included.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gamecwm_jax.train import losses
from gamecwm_jax.train.logprobs import shared_prompt_logprobs

Params = dict[str, Any]
Batch = dict[str, Any]

# How the importance ratio's "old" log-probs are obtained.
OLD_LOGPROBS = ("current", "sampler", "recompute")


class TrainState(NamedTuple):
    """What the optimizer changes: the adapter and the AdamW moments (and step count)."""

    lora: Params
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class GrpoSpec:
    """Everything static about the update (hashable: it is part of the compiled program).

    old_logprobs: "current" = the stopped-gradient log-probs of the very forward pass (the
    ratio is exactly 1; TRL's choice with one update per batch, and what rl.grpo_spec
    picks whenever inner_steps == 1), "sampler" = the batch's `old_logp` (the sampler's,
    at the sampling temperature), "recompute" = a forward pass of the sampling policy
    before the first inner update.
    """

    cfg: Any
    lora_cfg: Any
    variant: str = "grpo"
    clip_eps_low: float = 0.2
    clip_eps_high: float = 0.2
    beta: float = 0.0
    max_completion_len: int = 0
    inner_steps: int = 1
    old_logprobs: str = "current"
    chunk: int = 512
    remat: bool = False

    def __post_init__(self) -> None:
        losses.check_variant(self.variant)
        if self.old_logprobs not in OLD_LOGPROBS:
            raise ValueError(
                f"old_logprobs must be one of {OLD_LOGPROBS}, got {self.old_logprobs!r}"
            )
        if self.inner_steps < 1:
            raise ValueError(f"inner_steps must be >= 1, got {self.inner_steps}")


def train_rows(
    zero_spread: np.ndarray, adv: np.ndarray, group_size: int, beta: float, neg_weight: float
) -> np.ndarray:
    """Which sampled rows enter the update (bool [P * G]).

    A group whose rewards are all equal has advantage 0: with beta == 0 its rows add
    nothing and are dropped; with beta > 0 they keep their KL term (TRL keeps them too),
    otherwise the KL penalty would act only on the prompts where the rewards differ.
    With neg_weight == 0 and no KL, only rows with a positive advantage add anything.
    """
    if beta > 0.0:
        return np.ones(len(adv), bool)
    rows = np.repeat(~zero_spread, group_size)
    if neg_weight == 0.0:
        rows &= adv > 0  # no advantage, no KL term: the row adds nothing
    return rows


def build_batch(
    rollout: Any, keep_rows: np.ndarray, adv_n: np.ndarray, micro: int, c_len: int
) -> Batch:
    """The kept rows of a rollout as micro-batches with shared prompts (host-side NumPy).

    Always `ceil(P * G / micro)` micro-batches, so the compiled update keeps one shape
    whatever number of groups was dropped: rows past the kept ones repeat row 0 with
    weight 0, and a micro-batch of weight 0 only is skipped inside the update. The
    completion width `c_len` is chosen by the caller (a length bucket).

    Leaves: prompt_tokens / prompt_mask [M, U, Tp] (the distinct prompts of each
    micro-batch, left-padded; U is the most any micro-batch holds, repeats fill the
    rest), row_prompt [M, R] (which of the U prompts each row continues), tokens / mask /
    old_logp [M, R, C] (right-padded completions and the sampler's log-probs), adv and
    weight [M, R].
    """
    g = rollout.num_samples
    total = rollout.tokens.shape[0]
    n_micro = -(-total // micro)
    n = len(keep_rows)
    rows = np.concatenate([keep_rows, np.full(n_micro * micro - n, keep_rows[0])])
    rows_mr = rows.reshape(n_micro, micro)
    prompt_of_mr = rows_mr // g
    distinct = [np.unique(p) for p in prompt_of_mr]
    u = max(len(d) for d in distinct)
    prompts_mu = np.stack([np.pad(d, (0, u - len(d)), mode="edge") for d in distinct])
    row_prompt_mr = np.stack([np.searchsorted(d, p) for d, p in zip(distinct, prompt_of_mr)])
    comp_mask_mrc = (np.arange(c_len) < rollout.lengths[rows_mr][..., None]).astype(np.int32)
    return {
        "prompt_tokens": rollout.prompt_tokens[prompts_mu].astype(np.int32),
        "prompt_mask": rollout.prompt_mask[prompts_mu].astype(np.int32),
        "row_prompt": row_prompt_mr.astype(np.int32),
        "tokens": rollout.tokens[rows_mr, :c_len].astype(np.int32),
        "mask": comp_mask_mrc,
        "old_logp": (rollout.logprobs[rows_mr, :c_len] * comp_mask_mrc).astype(np.float32),
        "adv": adv_n[rows_mr].astype(np.float32),
        "weight": (np.arange(n_micro * micro) < n).reshape(n_micro, micro).astype(np.float32),
    }


def place_batch(batch: Batch, mesh: Any) -> Batch:
    """`build_batch`'s micro-batches on a device mesh: every leaf's axis 1 (rows, or a
    micro-batch's distinct prompts) split over data x fsdp. The rows must divide
    (rl.micro_batch_size is checked at start-up); the few distinct prompts are split as
    far as they divide, else whole on every device (parallel.shard_rows)."""
    from gamecwm_jax import parallel

    prompts = {k: v for k, v in batch.items() if k.startswith("prompt_")}
    rows = {k: v for k, v in batch.items() if not k.startswith("prompt_")}
    return {
        **parallel.shard_rows(rows, mesh, row_axis=1, what="config.rl.micro_batch_size"),
        **parallel.shard_rows(prompts, mesh, row_axis=1, strict=False),
    }


def micro_logprobs(
    params: Params,
    lora: Params | None,
    mb: Batch,
    temperature: jax.Array,
    spec: GrpoSpec,
    with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """Completion log-probs [R, C] of one micro-batch (lora=None: the reference policy)."""
    return shared_prompt_logprobs(
        params,
        spec.cfg,
        mb["prompt_tokens"],
        mb["prompt_mask"],
        mb["row_prompt"],
        mb["tokens"],
        mb["mask"],
        lora=lora,
        lora_cfg=spec.lora_cfg if lora is not None else None,
        chunk=spec.chunk,
        temperature=temperature,
        remat=spec.remat if lora is not None else False,
        with_entropy=with_entropy,
    )


def micro_grad(
    lora: Params,
    params: Params,
    mb: Batch,
    old_logp_rc: jax.Array | None,
    ref_logp_rc: jax.Array | None,
    temperature: jax.Array,
    spec: GrpoSpec,
) -> tuple[Params, jax.Array, jax.Array, dict[str, jax.Array]]:
    """(d num / d lora, num, den, aux) of the clipped objective on one micro-batch."""

    def num_fn(lora_: Params):
        logp_rc, ent_rc = micro_logprobs(params, lora_, mb, temperature, spec, with_entropy=True)
        num, den, aux = losses.policy_loss_terms(
            logp_rc,
            old_logp_rc,
            mb["adv"],
            mb["mask"],
            mb["weight"],
            variant=spec.variant,
            clip_eps_low=spec.clip_eps_low,
            clip_eps_high=spec.clip_eps_high,
            beta=spec.beta,
            logp_ref_bt=ref_logp_rc,
            max_completion_len=spec.max_completion_len or None,
        )
        m_rc = mb["mask"] * mb["weight"][:, None]
        return num, (den, {**aux, "entropy": jnp.sum(ent_rc * m_rc)})

    (num, (den, aux)), grad = jax.value_and_grad(num_fn, has_aux=True)(lora)
    return grad, num, den, aux


def _unless_padding(fn: Any) -> Any:
    """`fn(xs)` for a micro-batch's inputs `xs` (a micro-batch, or a tuple that starts with
    one), or zeros of its shape when the micro-batch holds padding rows only."""

    def run(xs: Any) -> Any:
        mb = xs[0] if isinstance(xs, tuple) else xs
        shapes = jax.eval_shape(fn, xs)
        zeros = lambda _: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return jax.lax.cond(jnp.sum(mb["weight"]) > 0, fn, zeros, xs)

    return run


def _per_micro(fn: Any, batch: Batch) -> jax.Array:
    """`fn(mb)` for every micro-batch, one after another (one micro-batch's activations
    live at a time), padding-only micro-batches skipped."""
    return jax.lax.map(_unless_padding(fn), batch)


def make_update(optimizer: optax.GradientTransformation, spec: GrpoSpec):
    """The jitted `update(state, params, batch, temperature) -> (state, metrics)`.

    metrics (device scalars, fetched once per step by the caller): `loss` and `grad_norm`
    of the first inner update (the norm before clipping), token sums `kl`, `entropy`,
    `tokens` of the policy that sampled the batch (first pass) and `clipped`, `ratio` of
    the last pass (with one inner step the ratio is 1 and nothing is clipped).
    """

    def update(
        state: TrainState, params: Params, batch: Batch, temperature: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        ref = None
        if spec.beta > 0:
            ref = _per_micro(
                lambda mb: micro_logprobs(params, None, mb, temperature, spec)[0], batch
            )
        old = None  # "current": the stopped-gradient log-probs of the training forward
        if spec.old_logprobs == "sampler":
            old = batch["old_logp"]
        elif spec.old_logprobs == "recompute":
            lora0 = state.lora
            old = _per_micro(
                lambda mb: micro_logprobs(params, lora0, mb, temperature, spec)[0], batch
            )
        old = jax.lax.stop_gradient(old) if old is not None else None

        def accumulate(lora: Params):
            terms = _unless_padding(
                lambda xs: micro_grad(lora, params, xs[0], xs[1], xs[2], temperature, spec)
            )
            first = jax.tree.map(lambda x: x[0], (batch, old, ref))
            zeros = jax.tree.map(
                lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(terms, first)
            )

            def body(acc, xs):
                return jax.tree.map(jnp.add, acc, terms(xs)), None

            acc, _ = jax.lax.scan(body, zeros, (batch, old, ref))
            return acc

        lora, opt_state = state
        metrics: dict[str, jax.Array] = {}
        for inner in range(spec.inner_steps):
            grad_sum, num, den, aux = accumulate(lora)
            grad = jax.tree.map(lambda g: g / jnp.maximum(den, 1e-9), grad_sum)
            updates, opt_state = optimizer.update(grad, opt_state, lora)
            lora = optax.apply_updates(lora, updates)
            if inner == 0:
                metrics.update(
                    loss=num / jnp.maximum(den, 1e-9),
                    grad_norm=optax.tree.norm(grad),
                    kl=aux["kl"],
                    entropy=aux["entropy"],
                    tokens=aux["tokens"],
                )
            if inner == spec.inner_steps - 1:
                metrics.update(clipped=aux["clipped"], ratio=aux["ratio"])
        return TrainState(lora, opt_state), metrics

    return jax.jit(update, donate_argnums=(0,))
