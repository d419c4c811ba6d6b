"""Qwen2.5-7B-Instruct on one node of 8 x 80 GB GPUs: the 3B recipe, data parallel.

  huggingface-cli download Qwen/Qwen2.5-7B-Instruct --local-dir checkpoints/Qwen2.5-7B-Instruct
  python -m gamecwm_jax.rl --config configs/qwen25_7b_gpu8.py

Mesh (data, fsdp, tensor) = (8, 1, 1): 15 GB of bf16 weights fit every GPU whole, so
the cheapest split is pure data parallelism: each GPU samples, scores and trains its
own rows, and the only collective is one all-reduce of the LoRA gradient per update
(README, "More than one device"). 8 prompts a step (one per GPU) x 8 completions;
micro-batches of 8 rows are one row a GPU.

Per-device memory (compile-time estimate on forced CPU devices, not a GPU measurement):
  python -m gamecwm_jax.bench.train --memory_only --config configs/qwen25_7b_gpu8.py --device_gib 80
gave: peak 30.4 GiB a device of 80 (GRPO update 20.5, sampling 30.4; 54.7 counting
the fp32 weight copies XLA:CPU makes and an accelerator does not; README, "More than one device").
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/qwen25_7b_gpu8"
    c.model.path = "checkpoints/Qwen2.5-7B-Instruct"
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = 8, 1, 1
    c.rl.prompts_per_step = 8
    c.rl.micro_batch_size = 8
    c.sft.batch_size, c.sft.grad_accum = 8, 1  # the 3B recipe's 4 sequences a step -> 8
    return c
