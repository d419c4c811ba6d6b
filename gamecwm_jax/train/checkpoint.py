"""Orbax checkpoints of the training state, with automatic resume.

A checkpoint holds the LoRA weights, the optimizer state, the PRNG key and the
step (one pytree; on a device mesh orbax writes it once, whatever the number of hosts), plus a small JSON record (data position, stage, metrics of
the step). Orbax writes each checkpoint into a temporary directory and renames
it when complete, so a run killed mid-save leaves the previous checkpoint
intact and the partial one is ignored (and cleaned up) on restart: at most the
steps since the last complete checkpoint are lost. Old checkpoints are deleted
only after a new one is complete.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointSaveError(RuntimeError):
    """A save failed (disk full, permissions); earlier checkpoints are untouched."""


class Checkpointer:
    """`CheckpointManager` for one training stage (`<workdir>/<stage>/checkpoints`)."""

    def __init__(self, directory: str, every: int, keep: int):
        self.directory = os.path.abspath(directory)
        self.every = every
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=True,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def should_save(self, step: int, last_step: int) -> bool:
        return step % self.every == 0 or step == last_step

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Writes checkpoint `step` synchronously; raises CheckpointSaveError on failure."""
        try:
            self.manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
                ),
                force=True,
            )
            self.manager.wait_until_finished()
        except Exception as e:  # orbax wraps OSError (ENOSPC, EACCES) in its own types
            prev = self.latest_step()
            raise CheckpointSaveError(
                f"saving checkpoint {step} in {self.directory} failed: {type(e).__name__}: {e}. "
                f"The last complete checkpoint ({prev}) is intact; free space or fix permissions and "
                f"rerun the same command to resume from it."
            ) from e

    def restore(
        self, like_state: Any, step: int | None = None
    ) -> tuple[Any, dict[str, Any]] | None:
        """(state, meta) of `step` (default: latest), shaped like `like_state`; None if none."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        logging.info("resumed from %s step %d", self.directory, step)
        return out["state"], dict(out["meta"])

    def close(self) -> None:
        self.manager.close()


def init_or_restore(
    directory: str,
    config: Any,
    lora: Any,
    optimizer: Any,
    rng: jax.Array,
    mesh: "jax.sharding.Mesh | None" = None,
) -> tuple[Checkpointer, Any, Any, jax.Array, int]:
    """Fresh state (LoRA, optimizer state, PRNG key, step 0) or the latest checkpoint's.

    With a `mesh` (default: the one of an enclosing `jax.set_mesh`, if any) the state
    is replicated over it, and a checkpoint is restored straight into that layout,
    whatever mesh wrote it (orbax reads each array into the sharding of the abstract
    state it is given).
    Returns (checkpointer, lora, opt_state, rng, step of the restored checkpoint or 0).
    """
    import jax.numpy as jnp

    state = {"lora": lora, "opt_state": optimizer.init(lora), "rng": rng, "step": jnp.int32(0)}
    from gamecwm_jax import parallel

    mesh = mesh if mesh is not None else parallel.current_mesh()
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    ckpt = Checkpointer(directory, config.checkpoint.every, config.checkpoint.keep)
    restored = ckpt.restore(state)
    start = 0
    if restored is not None:
        state, meta = restored
        start = int(meta["step"])
    return ckpt, state["lora"], state["opt_state"], state["rng"], start


def train_state(lora: Any, opt_state: Any, rng: jax.Array, step: int) -> dict[str, Any]:
    """The pytree a checkpoint stores (the same structure `init_or_restore` expects)."""
    import jax.numpy as jnp

    return {"lora": lora, "opt_state": opt_state, "rng": rng, "step": jnp.int32(step)}
