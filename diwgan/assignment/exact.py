"""Exact assignment solvers: optax's Hungarian algorithm and scipy's.

They are the references the auction is tested against, and the `"hungarian"`
and `"scipy"` matchers of `diwgan.assignment.match`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from diwgan.assignment.base import AuctionResult, check_shape, exact_result


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


def _scipy_columns_from_points(x: np.ndarray, y: np.ndarray,
                               kind: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  squared = np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
  cost = squared if kind == "sqeuclidean" else np.sqrt(squared)
  return _scipy_columns(cost)


def scipy_assignment_from_points(
    x: jax.typing.ArrayLike, y: jax.typing.ArrayLike, *,
    kind: str = "euclidean",
) -> AuctionResult:
  """Exact assignment of the distances between two point sets, on the host.

  The assignment of `scipy_assignment(pairwise_distances(x, y, kind=kind))`,
  but what crosses to the host is the two point sets, (n, k) and (m, k),
  not the (n, m) cost, which is built there in float64. Inside a
  multi-device step on XLA:CPU a host callback whose operand is large (a
  512 x 512 cost, 1 MB) never gets the thread pool's help to copy it while
  the other devices wait in a collective: the run aborts after 40 s
  (measured on 8 emulated devices from B = 256 up). Small operands do not.

  Args:
    x: (n, k) points (rows), n <= m.
    y: (m, k) points (columns).
    kind: "euclidean" or "sqeuclidean".

  Returns:
    An `AuctionResult` with (n,) assignment, zero (m,) prices, zero rounds
    and converged True.

  Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0, 0.0], [3.0, 0.0]])
    >>> y = jnp.array([[3.1, 0.0], [0.1, 0.0]])
    >>> scipy_assignment_from_points(x, y).assignment.tolist()
    [1, 0]
  """
  x = jnp.asarray(x)
  y = jnp.asarray(y)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(
        f"x and y must be (n, k) and (m, k) point sets, got {x.shape} and "
        f"{y.shape}.")
  n, m = check_shape(jax.ShapeDtypeStruct((x.shape[0], y.shape[0]), x.dtype))
  assignment = jax.pure_callback(
      functools.partial(_scipy_columns_from_points, kind=kind),
      jax.ShapeDtypeStruct((n,), jnp.int32), x, y, vmap_method="sequential")
  return exact_result(assignment, m)
