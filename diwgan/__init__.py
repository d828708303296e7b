"""diwgan: Dual Importance Weight GAN and mode-collapse baselines in JAX."""

__version__ = "0.1.0"
