"""Shared pieces of the SFT / GRPO / eval entry points.

losses      GRPO / Dr. GRPO / SFT objectives and group advantages (the math, once)
logprobs    chunked per-token log-probs and entropy (no [B, T, V] logits)
data        tokenised batches and the deterministic prompt schedule
checkpoint  Orbax checkpoints with automatic resume
metrics     JSONL / TensorBoard / progress bar / reward-curve PNG
export      Hugging Face PEFT adapters and merged safetensors
setup       config validation, model/tokenizer loading, clear errors for bad input
"""
