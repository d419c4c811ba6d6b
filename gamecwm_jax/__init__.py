"""gamecwm_jax: teach a small LLM to write Game Code World Models, in pure JAX.

Data flows one way: prompt -> sampler -> completion -> verifier -> reward -> GRPO update.
"""

__version__ = "0.1.0"
