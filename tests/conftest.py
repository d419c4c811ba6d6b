"""Suite-wide setup: compile the tests' programs with less LLVM work.

The suite runs hundreds of tiny programs once each, so XLA:CPU's compile time, not the
arithmetic, is most of its wall time. `--xla_backend_optimization_level=0` leaves the HLO
passes (fusion, simplification, layout, sharding) as they are and only skips LLVM's
optimization of the generated loops: the programs compute the same things, compile
about a third faster, and run slower only where the tests do little arithmetic anyway.
Measured back to back on the 2-core VM (`pytest -n 2`): 10 min 16 s -> 7 min 24 s.

It must be in XLA_FLAGS before JAX starts (this file is imported before any test
module), and the subprocesses the tests start inherit it. A level you set yourself in
XLA_FLAGS wins, e.g. `XLA_FLAGS=--xla_backend_optimization_level=2 pytest` to run the
suite as the trainer's programs are built.
"""

from __future__ import annotations

import os
import sys

_FLAG = "--xla_backend_optimization_level"

if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    if "jax" in sys.modules:  # too late for the flag to take effect: say so, run anyway
        sys.stderr.write(f"tests/conftest.py: JAX was imported before {_FLAG}=0 was set\n")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}=0".strip()
