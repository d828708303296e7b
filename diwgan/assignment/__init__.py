"""Linear assignment (minimisation): the matching of DIW-GAN.

Each training step matches the generator's samples to the anchors by solving a
linear assignment problem on their distance matrix. The package, in the order
a solve runs:

  * `base`: the result type (`AuctionResult`), defaults and input checks;
  * `driver`: `auction`, the epsilon-scaling auction (normalisation, warm
    start, the loop over eps phases), jit/vmap friendly;
  * `phases`: the auction's phases, each a named function (Gauss-Seidel and
    Jacobi forward bidding, the reverse phase of rectangular problems, the
    release of pairs that violate eps-complementary slackness);
  * `native`: the compiled CPU kernel of the square Gauss-Seidel phase loop
    (an XLA FFI custom call), used automatically when it was built;
  * `exact`: `hungarian` (optax) and `scipy_assignment` (scipy on the host),
    the exact references;
  * here: `match`, which dispatches between the three, and `assignment_cost`.

Conventions: rows are "persons" (anchors), columns are "objects", `n <= m`,
and every row is matched to a distinct column.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diwgan.assignment import native
from diwgan.assignment.base import (
    AuctionResult, BIDDING, DEFAULT_BIDDERS_PER_ROUND, DEFAULT_EPS_DECAY,
    DEFAULT_EPS_START, DEFAULT_ROUNDS_PER_ITERATION, METHODS,
    default_eps_final, default_max_rounds)
from diwgan.assignment.driver import auction
from diwgan.assignment.exact import (
    hungarian, scipy_assignment, scipy_assignment_from_points)

__all__ = [
    "AuctionResult", "BIDDING", "DEFAULT_BIDDERS_PER_ROUND",
    "DEFAULT_EPS_DECAY", "DEFAULT_EPS_START", "DEFAULT_ROUNDS_PER_ITERATION",
    "METHODS", "assignment_cost", "auction", "default_eps_final",
    "default_max_rounds", "hungarian", "match", "native", "scipy_assignment",
    "scipy_assignment_from_points",
]


def match(
    cost: jax.typing.ArrayLike,
    *,
    method: str = "auction",
    prices: jax.typing.ArrayLike | None = None,
    **auction_kwargs: Any,
) -> AuctionResult:
  """Solves the assignment problem with the chosen method.

  Args:
    cost: (n, m) float array, n <= m.
    method: "auction" (default: jit-compiled, eps-optimal), "hungarian"
      (optax, exact) or "scipy" (host callback, exact).
    prices: (m,) warm-start prices, used by "auction" only.
    **auction_kwargs: further keyword arguments of `auction`.

  Returns:
    An `AuctionResult`.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    >>> match(cost, method="hungarian").assignment.tolist()
    [1, 0, 2]

  Raises:
    ValueError: for an unknown method, or auction keyword arguments given to
      an exact method.
  """
  if method == "auction":
    return auction(cost, prices=prices, **auction_kwargs)
  if method not in METHODS:
    raise ValueError(
        f"Unknown assignment method {method!r}; valid methods: {METHODS}.")
  if auction_kwargs:
    raise ValueError(
        f"Method {method!r} takes no auction arguments, got "
        f"{sorted(auction_kwargs)}.")
  if method == "hungarian":
    return hungarian(cost)
  return scipy_assignment(cost)


def assignment_cost(
    cost: jax.typing.ArrayLike, assignment: jax.typing.ArrayLike
) -> jax.Array:
  """Total cost of an assignment.

  Args:
    cost: (..., n, m) float array.
    assignment: (..., n) int array, the column of each row.

  Returns:
    (...) `sum_i cost[..., i, assignment[..., i]]`.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    >>> float(assignment_cost(cost, jnp.array([1, 0, 2])))
    5.0
  """
  cost = jnp.asarray(cost)
  assignment = jnp.asarray(assignment)
  return jnp.sum(
      jnp.take_along_axis(cost, assignment[..., None], axis=-1)[..., 0],
      axis=-1)
