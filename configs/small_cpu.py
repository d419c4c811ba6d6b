"""The whole pipeline (SFT, then GRPO) on 2 CPU cores, in which GRPO visibly learns.

A random tiny Qwen2 (2 layers, width 128) with a byte-level BPE tokenizer trained on the
dataset's own text is generated into <workdir>/base_model. It cannot write code by itself,
so SFT teaches it a *menu* of whole tic_tac_toe programs (train/menu.py): the golden and two
rule mutants in every combination, 4 programs that differ at two sites, each site 50/50.
After SFT the model samples complete programs, the golden about a quarter of the time, that
the verifier scores at clearly different levels. GRPO, driven only by the verifier's reward,
then moves the probability towards the golden: the exact P(golden) and the sampled reward
rise, and the control (`--config.rl.control=shuffle`) does not (README, "Learning on a CPU").
What it does not show: generalisation (a model this size only reproduces what it memorised).
"""

from gamecwm_jax.train.config import default_config


def get_config():
    c = default_config()
    c.workdir = "runs/small_cpu"
    c.model.path = "tiny-random"
    c.model.dtype = "float32"
    c.model.remat = False
    c.data.train_games = "tic_tac_toe"
    # The golden and two rule mutants, in every combination (4 programs, each site 50/50).
    # The verifier scores them at run time (session 12's reward, seed 0): golden 1.0,
    # turn_not_passed 0.31, last_row_not_playable 0.45, both 0.28 (apply_mutates_input, used
    # before the dense reward, now costs only its purity checks: ~0.78).
    c.data.menu = "tic_tac_toe:turn_not_passed+last_row_not_playable"
    c.data.prompt_style = "name"  # the tiny model cannot read rules; see train/config.py

    c.sft.epochs = 0.0
    c.sft.steps = 160
    c.sft.batch_size = 2
    c.sft.grad_accum = 1
    c.sft.lr = 2e-3
    c.sft.warmup_frac = 0.1
    c.sft.max_grad_norm = 1.0
    c.sft.bucket = 64
    # alpha / rank = 16: a large adapter scale is what lets a frozen *random* base memorise
    # the goldens in ~100 steps (scale 1 needs thousands); real checkpoints use the recipe's.
    c.sft.lora.rank = 32
    c.sft.lora.alpha = 512.0
    c.sft.lora.dropout = 0.0
    c.sft.lora.targets = "all"

    # 16 steps of 2 groups x 8 samples: a step costs ~10 s on 2 quiet cores (sampling and
    # the update of 16 programs of ~900 tokens). 16 steps, not 12, so that each quarter of
    # the run averages 4 noisy step rewards (a step's mean reward has sd ~0.1).
    c.rl.steps = 16
    c.rl.prompts_per_step = 2  # the same prompt twice: two groups, 16 samples a step
    c.rl.group_size = 8
    c.rl.micro_batch_size = 4
    # At T = 0.6 ~94% of the mass is on the menu right after SFT, in near-equal shares
    # (equal shares stay equal at any T); at 0.8 only ~7% is: off-menu text is broken text.
    c.rl.temperature = 0.6
    # Adam moves every parameter by ~lr a step. At 1e-4 P(golden) rose within the first
    # quarter of the steps, so the sampled reward's first and last quarters overlapped in one
    # seed of three (README); 5e-5 spreads the rise over the run. The control (rewards
    # shuffled in each group) shows that the direction comes from the verifier.
    c.rl.lr = 5e-5
    c.rl.max_grad_norm = 1.0
    c.rl.beta = 0.0  # nothing to hold back in 12 steps; saves the reference pass
    c.rl.max_prompt_len = 256
    c.rl.max_new_tokens = 1024
    c.rl.logprob_chunk = 256
    c.rl.curriculum = False
    c.rl.lora.rank = 8
    c.rl.lora.alpha = 128.0

    c.verify.num_workers = 2
    c.verify.fast = True
    c.checkpoint.every = 6
    c.checkpoint.keep = 2
    c.log.plot_every = 4
    c.eval.at_end = True  # on the training game (there is no held-out claim to make here)
    c.eval.games = "tic_tac_toe"
    c.eval.samples = 4
    c.eval.max_new_tokens = 1024
    c.export.dtype = "float32"
    return c
