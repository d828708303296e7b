"""Exact assignment solvers: optax's Hungarian algorithm and scipy's.

They are the references the auction is tested against, and the `"hungarian"`
and `"scipy"` matchers of `diwgan.assignment.match`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from diwgan.assignment.base import AuctionResult, check_shape, exact_result


def exact_result(assignment: jax.Array, m: int) -> AuctionResult:
  """An exact solver's result: no prices, no rounds, converged."""
  return AuctionResult(
      assignment=assignment, prices=jnp.zeros((m,), jnp.float32),
      rounds=jnp.zeros((), jnp.int32), converged=jnp.ones((), bool))


def hungarian(cost: jax.typing.ArrayLike) -> AuctionResult:
  """Exact assignment by optax's Hungarian algorithm (O(n^2 m), slow on CPU).

  Args:
    cost: (n, m) float array, n <= m.

  Returns:
    An `AuctionResult` with (n,) assignment, zero (m,) prices, zero rounds
    and converged True.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    >>> hungarian(cost).assignment.tolist()
    [1, 0, 2]
  """
  n, m = check_shape(cost)
  cost = jnp.asarray(cost)
  rows, cols = optax.assignment.hungarian_algorithm(cost)
  assignment = jnp.zeros((n,), jnp.int32).at[rows].set(cols.astype(jnp.int32))
  return exact_result(assignment, m)


def _scipy_columns(cost: np.ndarray) -> np.ndarray:
  import scipy.optimize  # pylint: disable=g-import-not-at-top

  cost = np.asarray(cost)
  if cost.ndim == 3:  # vmap_method="expand_dims"/"broadcast_all" batches.
    return np.stack([_scipy_columns(c) for c in cost])
  _, cols = scipy.optimize.linear_sum_assignment(cost)
  return cols.astype(np.int32)


def scipy_assignment(cost: jax.typing.ArrayLike) -> AuctionResult:
  """Exact assignment by scipy.optimize.linear_sum_assignment on the host.

  Runs through `jax.pure_callback`, so it works under jit and vmap (solved
  sequentially). Needs scipy, imported only when called. scipy raises on NaN
  or when no finite perfect matching exists.

  Args:
    cost: (n, m) float array, n <= m.

  Returns:
    An `AuctionResult` with (n,) assignment, zero (m,) prices, zero rounds
    and converged True.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    >>> scipy_assignment(cost).assignment.tolist()
    [1, 0, 2]
  """
  n, m = check_shape(cost)
  cost = jnp.asarray(cost)
  assignment = jax.pure_callback(
      _scipy_columns, jax.ShapeDtypeStruct((n,), jnp.int32), cost,
      vmap_method="sequential")
  return exact_result(assignment, m)
