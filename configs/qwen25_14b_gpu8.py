"""Qwen2.5-14B-Instruct on one node of 8 x 80 GB GPUs: data parallel over tensor pairs.

  huggingface-cli download Qwen/Qwen2.5-14B-Instruct --local-dir checkpoints/Qwen2.5-14B-Instruct
  python -m gamecwm_jax.rl --config configs/qwen25_14b_gpu8.py

Mesh (data, fsdp, tensor) = (4, 1, 2): 30 GB of weights would fit an 80 GB GPU, but the
decode loop holds a second (unstacked) copy of the layer weights and the KV cache of its
rows besides; splitting heads / MLP columns over NVLink pairs halves both (15 GB a GPU)
for two small all-reduces a layer. 4 prompts a step (one per pair) x 8 completions;
micro-batches of 8 rows (2 a pair).

Per-device memory (compile-time estimate on forced CPU devices, not a GPU measurement):
  python -m gamecwm_jax.bench.train --memory_only --config configs/qwen25_14b_gpu8.py --device_gib 80
gave: peak 32.9 GiB a device of 80 (GRPO update 29.1, sampling 32.9; 57.5 counting
the fp32 weight copies XLA:CPU makes and an accelerator does not; README, "More than one device").
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/qwen25_14b_gpu8"
    c.model.path = "checkpoints/Qwen2.5-14B-Instruct"
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = 4, 1, 2
    c.rl.prompts_per_step = 4
    c.rl.micro_batch_size = 8
    c.sft.batch_size, c.sft.grad_accum = 4, 1
    return c
