"""Everything an entry point does before its first step, with clear errors.

Bad input must fail fast and lose nothing: the workdir is probed for
writability, game names and the model directory are resolved, and the config
is validated before any model is loaded or any step is taken. `run_main`
turns the expected errors into one line on stderr and exit status 2.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import traceback
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
from jax.sharding import Mesh

from gamecwm_jax import parallel
from gamecwm_jax.model import Qwen2Config, load_pretrained, load_tokenizer
from gamecwm_jax.model.checkpoint import CheckpointError

TINY = "tiny-random"


class SetupError(RuntimeError):
    """Bad input found before training started (nothing was written)."""


def check_writable(path: str) -> str:
    """Creates `path` if needed and proves a file can be written and renamed there."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write_probe_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.replace(probe, probe + ".renamed")
        os.remove(probe + ".renamed")
    except OSError as e:
        raise SetupError(
            f"workdir {path!r} is not writable ({e.strerror or e}); choose another "
            f"with --config.workdir=DIR"
        ) from e
    return path


def _dtype(name: str) -> Any:
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}[name]


def make_mesh(config: ml_collections.ConfigDict) -> Mesh:
    """The device mesh of `config.mesh`, after connecting the hosts of a multi-host
    launch (so call it before anything else touches JAX), with every batch size that
    must split over its rows checked now rather than at the first step."""
    mc = config.mesh
    parallel.initialize_distributed(mc.distributed)
    mesh = parallel.make_mesh(mc.data, mc.fsdp, mc.tensor)
    if config.rl.steps > 0:
        parallel.check_rows(config.rl.prompts_per_step, mesh, "config.rl.prompts_per_step")
        parallel.check_rows(config.rl.micro_batch_size, mesh, "config.rl.micro_batch_size")
        rows = config.rl.prompts_per_step * config.rl.group_size
        if rows % jax.process_count():
            raise parallel.MeshError(
                f"{rows} sampled rows a step (rl.prompts_per_step x rl.group_size) do not "
                f"split evenly over {jax.process_count()} hosts"
            )
    if config.sft.steps > 0 or config.sft.epochs > 0:
        parallel.check_rows(config.sft.batch_size, mesh, "config.sft.batch_size")
    logging.info("%s", parallel.describe(mesh))
    return mesh


def load_model(
    config: ml_collections.ConfigDict, mesh: Mesh | None = None
) -> tuple[Qwen2Config, Any, Any, str]:
    """(model cfg, params, tokenizer, model dir) from `config.model`.

    `model.path == "tiny-random"` generates (once, then reuses) a small random
    model in `<workdir>/base_model`; anything else must be an HF checkpoint
    directory (or hub id, downloaded to checkpoints/). With a `mesh` the weights
    come back sharded over it (parallel.PARAM_AXES).
    """
    path = config.model.path
    if path == TINY:
        path = os.path.join(config.workdir, "base_model")
        if parallel.is_main_process():  # one writer; the other hosts wait for it
            build_tiny_model(path, config.model.tiny)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("tiny model built")
    elif not os.path.isdir(path) and (
        path.startswith((".", "/", "~"))
        or path.count("/") != 1
        or os.path.isdir(path.split("/")[0])
    ):
        raise SetupError(
            f"model directory {path!r} does not exist. For Qwen2.5-3B-Instruct run\n"
            f"  huggingface-cli download Qwen/Qwen2.5-3B-Instruct --local-dir checkpoints/Qwen2.5-3B-Instruct\n"
            f"or use --config.model.path=tiny-random for a small random model."
        )
    cfg, params = load_pretrained(path, _dtype(config.model.dtype), mesh=mesh)
    tokenizer = load_tokenizer(path)
    return cfg, params, tokenizer, path


def _train_tokenizer(vocab_size: int) -> Any:
    """Byte-level BPE trained on every prompt and golden of the dataset.

    Trained in about a second; with ~1k merges a golden program is ~4x fewer
    tokens than bytes, which is what makes the CPU configuration fast enough.
    The special tokens and chat template are those of the tiny test checkpoints.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from gamecwm_jax.games import prompts
    from gamecwm_jax.games.registry import list_games
    from gamecwm_jax.model import testing

    texts = [prompts.SYSTEM_PROMPT]
    for name in list_games("all"):
        texts += [prompts.build_prompt(name), prompts.golden_completion(name)]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(testing.SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=testing.IM_END,
        pad_token=testing.ENDOFTEXT,
        additional_special_tokens=[testing.IM_START],
        padding_side="left",
    )
    tok.chat_template = testing.CHAT_TEMPLATE
    return tok


def build_tiny_model(out_dir: str, tiny: ml_collections.ConfigDict) -> str:
    """A random small Qwen2 checkpoint + trained tokenizer in HF layout.

    Written once per workdir (reused on resume, so a restarted run sees the very
    same base weights and tokenizer); needs no network and no torch.
    """
    from gamecwm_jax.model import init_params
    from gamecwm_jax.train.export import save_hf_checkpoint

    stamp = hashlib.sha256(json.dumps(tiny.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    stamp_file = os.path.join(out_dir, "tiny_config.sha")
    if os.path.isfile(stamp_file) and open(stamp_file).read() == stamp:
        return out_dir
    logging.info("building a random tiny Qwen2 + BPE tokenizer in %s", out_dir)
    tok = _train_tokenizer(tiny.vocab_size)
    vocab = -(-len(tok) // 64) * 64  # pylint: disable=invalid-unary-operand-type
    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        num_key_value_heads=tiny.num_key_value_heads,
        max_position_embeddings=8192,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.convert_tokens_to_ids(tok.pad_token),
        eos_token_id=tok.convert_tokens_to_ids(tok.eos_token),
    )
    params = init_params(jax.random.PRNGKey(tiny.seed), cfg, jnp.float32)
    # Wider embeddings (std 0.1): with init_params' 0.02 the tied LM head of a width-128 model
    # caps every logit near +-3, so no adapter on the frozen base could ever make a token
    # likely (the SFT loss stalls near log(V) - 3). Real checkpoints have no such limit.
    params["embed"] = params["embed"] * 5.0  # std 0.1: initial logits ~N(0, 1), max ~13
    save_hf_checkpoint(out_dir, cfg, params, tokenizer=tok, dtype="float32")
    with open(stamp_file, "w") as f:
        f.write(stamp)
    return out_dir


# Errors that mean "bad input": reported in one line, no traceback.
def _expected_errors() -> tuple[type[BaseException], ...]:
    from gamecwm_jax.games.registry import UnknownGameError
    from gamecwm_jax.train.config import ConfigError

    return (
        SetupError,
        ConfigError,
        UnknownGameError,
        FileNotFoundError,
        CheckpointError,
        NotADirectoryError,
        PermissionError,
        parallel.MeshError,
    )


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Drops INFO/DEBUG records of orbax and absl's checkpoint internals."""
    return record.levelno >= logging.WARNING or "orbax" not in record.pathname


def run_main(fn: Callable[[], Any]) -> Any:
    """Runs `fn`; expected input errors become `error: ...` on stderr and exit 2.

    Set GAMECWM_TRACEBACK=1 to see the full traceback instead. Orbax's per-save INFO
    lines are filtered out of the log (set GAMECWM_VERBOSE=1 to keep them).
    """
    if not os.environ.get("GAMECWM_VERBOSE"):
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_libraries)
    try:
        return fn()
    except _expected_errors() as e:
        if os.environ.get("GAMECWM_TRACEBACK"):
            traceback.print_exc()
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
