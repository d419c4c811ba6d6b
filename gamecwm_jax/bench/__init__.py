"""Benchmarks (run as modules, e.g. `python -m gamecwm_jax.bench.sampler`).

Shared here: the compile-only memory reading both `--memory-only` modes use.
"""

from __future__ import annotations

from typing import Any

import jax

# XLA:CPU has no bf16 matmul: it converts bf16 weights to fp32, and its loop-invariant
# code motion hoists that conversion out of the layer loop, i.e. an fp32 copy of every
# layer's weights (about 11.5 GiB at 3B) that a GPU program, with native bf16 matmuls,
# never holds. Disabling this one pass on CPU gives a buffer assignment closer to a GPU's.
CPU_NO_HOISTING = "while-loop-invariant-code-motion"


def disabled_passes() -> str:
    """The XLA passes `program_bytes` turns off on this backend ('' on accelerators)."""
    return CPU_NO_HOISTING if jax.default_backend() == "cpu" else ""


def program_bytes(lowered: Any) -> dict[str, int]:
    """Compiles a lowered program (inputs may be `ShapeDtypeStruct`s, so no weights are
    allocated) and returns XLA's buffer assignment: argument / output / temp bytes,
    `alias` (outputs written into donated inputs) and `total` = what it needs while it
    runs. On CPU an estimate of an accelerator's need, not a measurement of one."""
    passes = disabled_passes()
    m = lowered.compile({"xla_disable_hlo_passes": passes} if passes else None).memory_analysis()
    out = {
        "argument": m.argument_size_in_bytes,
        "output": m.output_size_in_bytes,
        "temp": m.temp_size_in_bytes,
        "alias": m.alias_size_in_bytes,
    }
    out["total"] = out["argument"] + out["output"] + out["temp"] - out["alias"]
    return out
