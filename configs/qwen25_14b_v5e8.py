"""Qwen2.5-14B-Instruct on a TPU v5e-8 (8 chips of 16 GB): tensor parallel over all 8.

  python -m gamecwm_jax.rl --config configs/qwen25_14b_v5e8.py

Mesh (data, fsdp, tensor) = (1, 1, 8): the 30 GB of weights are split by heads (40
query / 8 KV heads: 5 / 1 a chip) and MLP columns, 3.7 GB a chip, and the KV cache by
its 8 KV heads. Every chip sees every row, so the rows are few: 2 prompts a step x 8
completions, and micro-batches of one row (the residual stream of a 8192-token row,
kept per layer for the rematerialised backward, is 4 GB on every chip).

Per-device memory (compile-time estimate on forced CPU devices, not a TPU measurement):
  python -m gamecwm_jax.bench.train --memory_only --config configs/qwen25_14b_v5e8.py --device_gib 16
gave: peak 10.5 GiB a device of 16 (GRPO update 9.8, sampling 10.5; 16.5 counting
the fp32 weight copies XLA:CPU makes and an accelerator does not; README, "More than one device").
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/qwen25_14b_v5e8"
    c.model.path = "checkpoints/Qwen2.5-14B-Instruct"
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = 1, 1, 8
    c.rl.prompts_per_step = 2
    c.rl.micro_batch_size = 1
    # A merged copy of the adapted weights (3.4 GB a chip) on top of sampling's 10.5 GiB
    # leaves too little room: LoRA stays on the side while sampling.
    c.rl.merge_lora_for_sampling = False
    c.sft.batch_size, c.sft.grad_accum = 1, 4
    return c
