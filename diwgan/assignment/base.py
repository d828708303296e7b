"""What every assignment solver shares: the result type, defaults and checks.

Conventions: rows are "persons" (anchors), columns are "objects", `n <= m`,
and every row is matched to a distinct column.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_F32_EPS = float(np.finfo(np.float32).eps)
# Smallest relative eps ever used: float32 prices near 1 cannot resolve less.
MIN_RELATIVE_EPS = 4.0 * _F32_EPS

DEFAULT_EPS_START = 0.1
DEFAULT_EPS_DECAY = 0.2
DEFAULT_BIDDERS_PER_ROUND = 64
DEFAULT_ROUNDS_PER_ITERATION = 8
SMALL_TIER = 16

METHODS = ("auction", "hungarian", "scipy")
BIDDING = ("auto", "gauss_seidel", "jacobi")


class AuctionResult(NamedTuple):
  """Result of a linear assignment solver.

  Attributes:
    assignment: (n,) int32, the column matched to each row; always a
      permutation into distinct columns.
    prices: (m,) float32 column prices in the units of the original cost (up
      to an additive constant); pass them as `prices=` to warm-start the next
      `auction` call on a similar cost matrix. Zeros for the exact solvers.
    rounds: () int32, total bidding rounds over all epsilon phases: bids
      with Gauss-Seidel bidding, batched rounds with Jacobi bidding (0 for
      the exact solvers).
    converged: () bool, True iff the auction reached `eps_final` with every
      row assigned to a distinct column within `max_rounds`, the cost had no
      NaN / -inf entries, and no chosen pair has +inf cost.
  """
  assignment: jax.Array
  prices: jax.Array
  rounds: jax.Array
  converged: jax.Array


def default_eps_final(n: int) -> float:
  """Default final eps, relative to the range of the finite costs.

  The textbook `1 / (n + 1)` (exact for integer costs) leaves a 3-6% gap on
  real-valued costs; `1 / (n + 1) / 100` was measured to leave < 3e-5.

  Args:
    n: number of rows (persons).

  Returns:
    The relative eps.

  Example:
    >>> default_eps_final(99)
    0.0001
  """
  return 1.0 / (n + 1) / 100.0


def default_max_rounds(n: int) -> int:
  """Default cap on bidding rounds (bids, for Gauss-Seidel bidding).

  Measured on n = 512: cold solves of random point-cloud costs take ~9k bids
  (~1.5k Jacobi rounds), DIW-GAN's clustered ring costs ~15-25k bids (~4-7k
  Jacobi rounds). The cap is ~25x that, so it only stops a solve that would
  not finish anyway (e.g. an eps below float32 resolution), and such a solve
  reports `converged=False`.

  Args:
    n: number of rows (persons).

  Returns:
    The cap, `1000 * n + 100_000`.

  Example:
    >>> default_max_rounds(512)
    612000
  """
  return 1000 * n + 100_000



def _axes(x: jax.Array, axis: int | None) -> tuple[int, ...]:
  return tuple(range(x.ndim)) if axis is None else (axis % x.ndim,)


def max_no_nan(x: jax.Array, axis: int | None = -1) -> jax.Array:
  """Max along `axis` (None: all), without NaN propagation.

  `jnp.max` must propagate NaN, which kept XLA:CPU from vectorising row
  reductions in the JAX versions the bidding loop was tuned on; this
  select-based reduction ran ~2x faster there. (On JAX 0.10 a whole-array
  `jnp.max` is faster, so `driver.normalise` uses that.) The auction never
  reduces NaN (non-finite costs are replaced before bidding).
  """
  init = (-jnp.inf if jnp.issubdtype(x.dtype, jnp.floating)
          else jnp.iinfo(x.dtype).min)
  return jax.lax.reduce(x, jnp.asarray(init, x.dtype),
                        lambda a, b: jnp.where(a > b, a, b), _axes(x, axis))


def min_no_nan(x: jax.Array, axis: int | None = -1) -> jax.Array:
  """Min along `axis` (None: all), without NaN propagation (see
  `max_no_nan`)."""
  init = (jnp.inf if jnp.issubdtype(x.dtype, jnp.floating)
          else jnp.iinfo(x.dtype).max)
  return jax.lax.reduce(x, jnp.asarray(init, x.dtype),
                        lambda a, b: jnp.where(a < b, a, b), _axes(x, axis))


def best_two(values: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Along the last axis: the best value, its first index, the second best.

  The bidding rule of every auction phase. Max reductions and a first-index
  min, because XLA:CPU's argmax (a variadic reduce) and top_k are 5-15x
  slower here. The second best is -inf when the axis has one entry.
  """
  size = values.shape[-1]
  index = jnp.arange(size, dtype=jnp.int32).reshape(
      (1,) * (values.ndim - 1) + (size,))
  best = max_no_nan(values)
  first = min_no_nan(jnp.where(values == best[..., None], index, size))
  second = max_no_nan(jnp.where(index == first[..., None], -jnp.inf, values))
  return best, first, second


def check_shape(cost: Any) -> tuple[int, int]:
  shape = tuple(np.shape(cost))
  if len(shape) != 2:
    raise ValueError(f"cost must be a 2-D (n, m) array, got shape {shape}.")
  n, m = shape
  if n > m:
    raise ValueError(
        f"cost must have n <= m (rows are matched to distinct columns), got "
        f"shape {shape}; pass the transpose.")
  return n, m


def check_values(cost: Any) -> None:
  """Raises on NaN / -inf when the cost is concrete (not traced)."""
  if isinstance(cost, jax.core.Tracer):
    return
  values = np.asarray(cost)
  if np.issubdtype(values.dtype, np.floating) and not np.all(
      np.isfinite(values) | np.isposinf(values)):
    raise ValueError(
        "cost contains NaN or -inf entries; only finite costs and +inf "
        "(forbidden pairs) are supported.")




def exact_result(assignment: jax.Array, m: int) -> AuctionResult:
  """An exact solver's result: no prices, no rounds, converged."""
  return AuctionResult(
      assignment=assignment, prices=jnp.zeros((m,), jnp.float32),
      rounds=jnp.zeros((), jnp.int32), converged=jnp.ones((), bool))
