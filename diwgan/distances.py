"""Pairwise distances between point sets, the cost matrix of the matching.

`C[i, j] = ||S_r[i] - s_g[j]||` ([DIW], eq. 2) is computed here for the
euclidean variant, and its square for the [poster] variant (the short names
of docs/method.md, References).
"""

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

DistanceKind = Literal["euclidean", "sqeuclidean"]
DISTANCE_KINDS = ("euclidean", "sqeuclidean")


def _squared_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  # ||x||^2 + ||y||^2 - 2 x.y is one matmul, O(m n) memory instead of the
  # O(m n k) of explicit differences; HIGHEST keeps TF32 out of it on GPUs.
  x_sq = jnp.sum(x * x, axis=-1)[..., :, None]
  y_sq = jnp.sum(y * y, axis=-1)[..., None, :]
  cross = jnp.einsum(
      "...ik,...jk->...ij", x, y, precision=jax.lax.Precision.HIGHEST
  )
  return jnp.maximum(x_sq + y_sq - 2.0 * cross, 0.0)


def pairwise_distances(
    x: ArrayLike, y: ArrayLike, *, kind: DistanceKind = "euclidean"
) -> jax.Array:
  """Distances between every row of `x` and every row of `y`.

  Args:
    x: (..., m, k) points.
    y: (..., n, k) points, with the same leading axes as `x`.
    kind: "euclidean" or "sqeuclidean".

  Returns:
    (..., m, n) array with `out[..., i, j] = dist(x[..., i, :], y[..., j, :])`.
    The euclidean gradient at zero distance is zero (finite), not NaN.

  Example:
    >>> import jax.numpy as jnp
    >>> pairwise_distances(jnp.zeros((1, 2)), jnp.array([[3.0, 4.0]]))
    Array([[5.]], dtype=float32)
  """
  x = jnp.asarray(x)
  y = jnp.asarray(y)
  if x.ndim < 2 or y.ndim < 2:
    raise ValueError(
        f"pairwise_distances needs (..., m, k) and (..., n, k) arrays, got "
        f"shapes {x.shape} and {y.shape}."
    )
  if x.shape[-1] != y.shape[-1] or x.shape[:-2] != y.shape[:-2]:
    raise ValueError(
        f"pairwise_distances: shapes {x.shape} and {y.shape} disagree on the "
        "feature axis or the leading (batch) axes."
    )
  squared = _squared_distances(x, y)
  if kind == "sqeuclidean":
    return squared
  if kind == "euclidean":
    # sqrt has an infinite derivative at 0: route zeros through a safe branch.
    positive = squared > 0.0
    safe = jnp.where(positive, squared, 1.0)
    return jnp.where(positive, jnp.sqrt(safe), 0.0)
  raise ValueError(f"Unknown distance kind {kind!r}; valid: {DISTANCE_KINDS}.")
