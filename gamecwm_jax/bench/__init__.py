"""Benchmarks (run as modules, e.g. `python -m gamecwm_jax.bench.sampler`)."""
