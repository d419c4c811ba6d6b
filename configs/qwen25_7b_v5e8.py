"""Qwen2.5-7B-Instruct on a TPU v5e-8 (8 chips of 16 GB): tensor parallel in pairs of 4.

  python -m gamecwm_jax.rl --config configs/qwen25_7b_v5e8.py

Mesh (data, fsdp, tensor) = (2, 1, 4): the 15 GB of weights do not fit one chip, so
each layer's 28 query / 4 KV heads and MLP columns are split 4 ways (3.8 GB a chip),
and two such groups take half the rows each. Tensor parallelism, not FSDP, because
sampling dominates a GRPO step and FSDP would all-gather every weight once per
generated token; tensor parallelism all-reduces two [rows, D] activations a layer.
4 prompts a step x 8 completions; micro-batches of 2 rows (one per data shard) keep
the rematerialised activations of a 8192-token row to ~1.6 GB.

Per-device memory (compile-time estimate on forced CPU devices, not a TPU measurement):
  python -m gamecwm_jax.bench.train --memory_only --config configs/qwen25_7b_v5e8.py --device_gib 16
gave: peak 8.9 GiB a device of 16 (GRPO update 7.1, sampling 8.9; 14.9 counting
the fp32 weight copies XLA:CPU makes and an accelerator does not; README, "More than one device").
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/qwen25_7b_v5e8"
    c.model.path = "checkpoints/Qwen2.5-7B-Instruct"
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = 2, 1, 4
    c.rl.prompts_per_step = 4
    c.rl.micro_batch_size = 2
    c.sft.batch_size, c.sft.grad_accum = 2, 2
    return c
