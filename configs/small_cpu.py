"""The whole pipeline (SFT, then GRPO) in a few minutes on 2 CPU cores.

A random tiny Qwen2 (2 layers, width 128) with a byte-level BPE tokenizer trained on the
dataset's own text is generated into <workdir>/base_model. It cannot write code by itself,
so SFT first teaches it the golden programs of two small games (memorisation), then GRPO
samples from it, scores the samples with the real verifier and updates a fresh adapter.
What this shows: every stage runs end to end on a 2-core CPU. What it does not show: a rising
reward (measured flat; README "What the small CPU run shows") or generalisation to unseen games
(a model this size only reproduces what it memorised).
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/small_cpu"
    c.model.path = "tiny-random"
    c.model.dtype = "float32"
    c.model.remat = False
    c.data.train_games = "tic_tac_toe,matching_pennies"
    c.data.prompt_style = "name"  # the tiny model cannot read rules; see train/config.py

    c.sft.epochs = 0.0
    c.sft.steps = 150
    c.sft.batch_size = 2
    c.sft.grad_accum = 1
    c.sft.lr = 3e-3
    c.sft.warmup_frac = 0.05
    c.sft.max_grad_norm = 1.0
    c.sft.bucket = 64
    # alpha / rank = 16: a large adapter scale is what lets a frozen *random* base memorise
    # the goldens in ~100 steps (scale 1 needs thousands); real checkpoints use the recipe's.
    c.sft.lora.rank = 32
    c.sft.lora.alpha = 512.0
    c.sft.lora.dropout = 0.0
    c.sft.lora.targets = "all"

    c.rl.steps = 30  # ~4 min on 2 quiet cores; enough to tell flat from falling
    c.rl.prompts_per_step = 2
    # 8, not 4: twice the samples per group halves the variance of the group mean, and a
    # group with rewards all equal (dropped) is rarer.
    c.rl.group_size = 8
    c.rl.micro_batch_size = 4
    # After SFT a sample is either the memorised golden (1.0) or breaks (0.0); the expected
    # reward is ~0.86 at T = 0.5, 0.63 at 0.55, 0.30 at 0.6, 0 at 1.0. At 0.55 most groups
    # mix both (the signal), and the reward has room to rise.
    c.rl.temperature = 0.55
    # The recipe's lr. One batch's gradient here points almost at random (cosine ~0.02 with
    # the gradient of the expected reward: the broken samples' tokens dominate it), and Adam
    # moves every parameter by ~lr a step whatever the gradient's size, so larger steps are
    # mostly noise: lr 1e-4 took the expected reward 0.63 -> 0.53 in 30 steps, 3e-4 further.
    # At 2e-5 the policy stays where SFT left it: the reward is flat (README).
    c.rl.lr = 2e-5
    c.rl.max_grad_norm = 1.0
    c.rl.beta = 0.0  # nothing to hold back at this lr; saves the reference pass
    c.rl.max_prompt_len = 256
    c.rl.max_new_tokens = 1024
    c.rl.logprob_chunk = 256
    c.rl.curriculum = False
    c.rl.lora.rank = 8
    c.rl.lora.alpha = 128.0

    c.verify.num_workers = 2
    c.verify.fast = True
    c.checkpoint.every = 4
    c.checkpoint.keep = 2
    c.log.plot_every = 4
    c.eval.at_end = True  # on the two training games (there is no held-out claim to make here)
    c.eval.games = "tic_tac_toe,matching_pennies"
    c.eval.samples = 4
    c.eval.max_new_tokens = 1024
    c.export.dtype = "float32"
    return c
