"""The seed's recipe for Qwen2.5-3B-Instruct on one 80 GB accelerator: SFT, then GRPO.

Weights (about 6 GB) must be on disk first:

  huggingface-cli download Qwen/Qwen2.5-3B-Instruct --local-dir checkpoints/Qwen2.5-3B-Instruct
  python -m gamecwm_jax.rl --config configs/qwen25_3b.py

SFT: LoRA r=16, alpha=32, dropout 0.05 on q/k/v/o; lr 1e-5 cosine, 3% warm-up, 2 epochs,
batch 1 x accumulation 4, max length 6000. GRPO: LoRA r=16, alpha=64 on all projections,
lr 2e-5, group size 8, KL beta 0.1, max grad norm 0.1, AdamW, rematerialisation, prompt and
completion up to 4096 tokens, temperature 0.6, curriculum over the tiers (2 epochs a tier).
Every value is in gamecwm_jax/train/config.py:default_config, which this file returns as is.
"""

from gamecwm_jax.train.config import default_config


def get_config():
    config = default_config()
    config.workdir = "runs/qwen25_3b"
    return config
