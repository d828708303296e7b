"""diwgan: Dual Importance Weight GAN and mode-collapse baselines in JAX.

`diwgan.diw_term` is the DIW term of one generator step in one call
(`diwgan.diw`); the pieces live in `distances`, `kde`, `assignment`,
`importance` and `losses`, the methods in `methods`, the step in `training`.
"""

from diwgan.diw import DIWAux, diw_term

__version__ = "0.1.0"

__all__ = ["DIWAux", "diw_term"]
