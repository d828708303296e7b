"""The epsilon-scaling auction: normalisation, warm start and the phase loop.

`auction` normalises the finite costs to benefits in [-1, 0] so that every
eps is relative to the cost range, applies an optional warm start, then runs
phases of decreasing eps (`diwgan.assignment.phases`) until `eps_final`. At
termination every row is assigned with eps-complementary slackness, so the
total cost is within `n * eps` of the optimum (Bertsekas, "The auction
algorithm: a distributed relaxation method", 1988). Rectangular problems
(`n < m`) also need every free column to be no dearer than the cheapest held
one; after each forward phase a reverse auction of the free columns restores
this (Bertsekas, Castanon & Tsaknakis, 1993).

On the CPU the square Gauss-Seidel phase loop runs in a compiled kernel
(`diwgan.assignment.native`) when it was built: the same bids in the same
order, ~10x faster than XLA's `while_loop`, one bid per iteration.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diwgan.assignment import native
from diwgan.assignment.base import (
    AuctionResult, BIDDING, DEFAULT_BIDDERS_PER_ROUND, DEFAULT_EPS_DECAY,
    DEFAULT_EPS_START, DEFAULT_ROUNDS_PER_ITERATION, MIN_RELATIVE_EPS,
    check_shape, check_values, default_eps_final, default_max_rounds,
    max_no_nan)
from diwgan.assignment.phases import (
    forward_phase, initial_matching, next_phase, release_violators,
    reverse_phase)


KERNELS = ("auto", "native", "jax")


def resolve_bidding(bidding: str) -> str:
  """"auto" is Gauss-Seidel on the CPU, Jacobi on accelerators."""
  if bidding not in BIDDING:
    raise ValueError(f"Unknown bidding {bidding!r}; valid: {BIDDING}.")
  if bidding == "auto":
    return "gauss_seidel" if jax.default_backend() == "cpu" else "jacobi"
  return bidding


class Normalised(NamedTuple):
  """A cost matrix as the auction sees it.

  Attributes:
    benefit: (n, m) float32 `-(cost - low) / scale` for finite costs, in
      [-1, 0]; forbidden (+inf) and invalid (NaN, -inf) pairs at
      `-2 (n + 1)`, more than any finite matching costs.
    invalid: () bool, some cost is NaN or -inf.
    all_finite: () bool, every cost is finite.
    spread: () max - min of the finite costs.
    scale: () the divisor (the spread, or 1 when it is 0 or nothing is
      finite).
  """
  benefit: jax.Array
  invalid: jax.Array
  all_finite: jax.Array
  spread: jax.Array
  scale: jax.Array


def normalise(cost: jax.Array) -> Normalised:
  """Finite costs to benefits in [-1, 0], so every eps is relative."""
  n, _ = cost.shape
  cost = cost.astype(jnp.float32)
  finite = jnp.isfinite(cost)
  # Four reductions of NaN-free arrays: the finite range, and the extremes
  # with NaN read as -inf, which tell whether anything is invalid or
  # infinite. Whole-array jnp.min/max vectorise on XLA:CPU (JAX 0.10: ~3x
  # faster than the select-based `min_no_nan` at 512 x 512), and with no NaN
  # to propagate they return the same values.
  low = jnp.min(jnp.where(finite, cost, jnp.inf))
  high = jnp.max(jnp.where(finite, cost, -jnp.inf))
  nan_low = jnp.where(jnp.isnan(cost), -jnp.inf, cost)
  invalid = jnp.min(nan_low) == -jnp.inf  # NaN or -inf.
  all_finite = ~invalid & (jnp.max(nan_low) < jnp.inf)
  spread = high - low
  any_finite = high >= low
  scale = jnp.where(any_finite & (spread > 0), spread, 1.0)
  low = jnp.where(any_finite, low, 0.0)
  normalised = (cost - low) / scale
  # Forbidden (+inf) and invalid pairs cost more than any finite matching:
  # 2 (n + 1) > n * (1 + eps), so they are used only if unavoidable.
  normalised = jnp.where(finite, normalised, 2.0 * (n + 1))
  return Normalised(-normalised, invalid, all_finite, spread, scale)


def start(
    benefit: jax.Array, prices: jax.Array, assignment: jax.Array,
    eps_start: jax.Array, eps_final: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(owner, assign, first eps) of a cold or warm start.

  Cold (no row of `assignment` valid): eps_start, or the default when it is
  negative. Warm: the warm assignment's pairs that are eps-complementary-
  slack for the first eps are kept; a negative `eps_start` asks for the
  adaptive eps, the smallest for which the whole warm assignment is
  eps-CS under the new cost and the warm prices (capped at the cold
  start), so the phases are spent only on what the cost changed.
  """
  owner, assign = initial_matching(assignment.astype(jnp.int32),
                                   benefit.shape[1])

  def warm_start(args):
    owner, assign, eps_start = args
    values = benefit - prices[None, :]
    slack = max_no_nan(values, axis=1) - jnp.take_along_axis(
        values, jnp.maximum(assign, 0)[:, None], axis=1)[:, 0]
    adaptive = jnp.minimum(max_no_nan(jnp.where(assign >= 0, slack, 0.0)),
                           DEFAULT_EPS_START)
    # Slack within float32 rounding of eps_final (the returned prices were
    # rescaled) counts as eps_final-CS: a solved problem needs no bids.
    rounding = MIN_RELATIVE_EPS * jnp.maximum(1.0, jnp.max(prices))
    adaptive = jnp.where(adaptive <= eps_final + rounding, eps_final, adaptive)
    eps_start = jnp.where(eps_start < 0, adaptive, eps_start)
    eps_start = jnp.maximum(eps_start, eps_final)
    owner, assign = release_violators(benefit, prices, owner, assign,
                                      eps_start + rounding)
    return owner, assign, eps_start

  def cold_start(args):
    owner, assign, eps_start = args
    eps_start = jnp.where(eps_start < 0, DEFAULT_EPS_START, eps_start)
    return owner, assign, jnp.maximum(eps_start, eps_final)

  return jax.lax.cond(jnp.any(assign >= 0), warm_start, cold_start,
                      (owner, assign, eps_start))


def jax_phases(
    benefit: jax.Array, carry: tuple[jax.Array, ...], eps_start: jax.Array,
    eps_final: jax.Array, eps_decay: jax.Array, max_rounds: jax.Array,
    done: jax.Array, *, bidding: str, bidders_per_round: int,
    rounds_per_iteration: int,
) -> tuple[tuple[jax.Array, ...], jax.Array]:
  """The loop over eps phases in JAX: forward, reverse, next eps.

  Args:
    benefit: (n, m) normalised benefits.
    carry: (prices, owner, assign, rounds) after `start`.
    eps_start, eps_final, eps_decay, max_rounds: the schedule.
    done: () True if there is nothing to solve.
    bidding, bidders_per_round, rounds_per_iteration: static options.

  Returns:
    (carry, done): the final carry and whether eps_final was reached with
    every row assigned.
  """
  n, m = benefit.shape
  benefit_t = benefit.T if n < m else None

  def solve_phase(state):
    carry, eps, last_phase, _ = state
    carry = forward_phase(
        carry, benefit, eps, max_rounds, bidding=bidding,
        bidders_per_round=bidders_per_round,
        rounds_per_iteration=rounds_per_iteration)
    complete = jnp.all(carry[2] >= 0)
    if n < m:
      carry, slack = reverse_phase(
          carry, benefit_t, eps, max_rounds, complete,
          bidders_per_round=bidders_per_round,
          rounds_per_iteration=rounds_per_iteration)
    else:
      slack = jnp.zeros((), bool)
    done = complete & last_phase & ~slack
    carry, eps, last_phase = jax.lax.cond(
        complete & ~done,
        lambda args: next_phase(benefit, *args, eps_final=eps_final,
                                eps_decay=eps_decay),
        lambda args: args, (carry, eps, last_phase))
    return carry, eps, last_phase, done

  def phases_cond(state):
    carry, _, _, done = state
    return ~done & (carry[3] < max_rounds)

  carry, _, _, done = jax.lax.while_loop(
      phases_cond, solve_phase,
      (carry, eps_start, eps_start <= eps_final, done))
  return carry, done


def complete_permutation(owner: jax.Array, assign: jax.Array) -> jax.Array:
  """The assignment as a permutation, even when stopped early.

  The r-th unassigned row takes the r-th free column.
  """
  n = assign.shape[0]
  (free,) = jnp.nonzero(owner < 0, size=n, fill_value=0)
  unassigned = assign < 0
  rank = jnp.cumsum(unassigned.astype(jnp.int32)) - 1
  return jnp.where(unassigned, free[jnp.clip(rank, 0, n - 1)],
                   assign).astype(jnp.int32)


@functools.partial(
    jax.jit,
    static_argnames=("bidding", "bidders_per_round", "rounds_per_iteration",
                     "use_native"))
def _auction(
    cost: jax.Array,
    prices: jax.Array,
    assignment: jax.Array,
    eps_final: jax.Array,
    eps_start: jax.Array,
    eps_decay: jax.Array,
    max_rounds: jax.Array,
    *,
    bidding: str,
    bidders_per_round: int,
    rounds_per_iteration: int,
    use_native: bool = False,
) -> AuctionResult:
  """Jitted core of `auction`; see there.

  `prices` are in original units; `assignment` is all -1 for no warm start;
  a negative `eps_start` asks for the adaptive warm-start eps.
  """
  n, m = cost.shape
  problem = normalise(cost)
  benefit = problem.benefit
  prices = prices.astype(jnp.float32) / problem.scale
  prices = prices - jnp.min(prices)
  eps_final = jnp.maximum(
      jnp.asarray(eps_final, jnp.float32), MIN_RELATIVE_EPS)
  eps_decay = jnp.asarray(eps_decay, jnp.float32)
  max_rounds = jnp.asarray(max_rounds, jnp.int32)
  owner, assign, eps_start = start(
      benefit, prices, assignment, jnp.asarray(eps_start, jnp.float32),
      eps_final)

  # All-equal costs: any assignment is optimal; skip the bidding (which
  # would need one round per row, every person wanting the same column).
  degenerate = (problem.spread <= 0) & problem.all_finite
  rows = jnp.arange(n, dtype=jnp.int32)
  columns = jnp.arange(m, dtype=jnp.int32)
  assign = jnp.where(degenerate, rows, assign)
  owner = jnp.where(degenerate, jnp.where(columns < n, columns, -1), owner)

  def loop_in_jax(prices, owner, assign):
    (prices, owner, assign, rounds), done = jax_phases(
        benefit, (prices, owner, assign, jnp.zeros((), jnp.int32)),
        eps_start, eps_final, eps_decay, max_rounds, degenerate,
        bidding=bidding, bidders_per_round=bidders_per_round,
        rounds_per_iteration=rounds_per_iteration)
    return prices, owner, assign, rounds, done

  def loop_in_kernel(prices, owner, assign):
    del owner  # The kernel derives it from `assign`.
    prices, assign, rounds, done = native.gauss_seidel_phases(
        benefit, prices, assign, eps_start, eps_final, eps_decay,
        max_rounds, degenerate)
    owner = jnp.full((m,), -1, jnp.int32).at[
        jnp.where(assign >= 0, assign, m)].set(rows, mode="drop")
    return prices, owner, assign, rounds, done

  if use_native:
    # The kernel is registered for the CPU only; other platforms lower the
    # JAX loop.
    prices, owner, assign, rounds, done = jax.lax.platform_dependent(
        prices, owner, assign, cpu=loop_in_kernel, default=loop_in_jax)
  else:
    prices, owner, assign, rounds, done = loop_in_jax(prices, owner, assign)

  result = complete_permutation(owner, assign)
  chosen_forbidden = jnp.any(~jnp.isfinite(cost[rows, result]))
  return AuctionResult(
      assignment=result,
      prices=prices * problem.scale,
      rounds=rounds,
      converged=done & ~problem.invalid & ~chosen_forbidden,
  )


def auction(
    cost: jax.typing.ArrayLike,
    *,
    prices: jax.typing.ArrayLike | None = None,
    assignment: jax.typing.ArrayLike | None = None,
    eps_final: float | jax.typing.ArrayLike | None = None,
    eps_start: float | jax.typing.ArrayLike | None = None,
    eps_decay: float | jax.typing.ArrayLike = DEFAULT_EPS_DECAY,
    max_rounds: int | jax.typing.ArrayLike | None = None,
    bidding: str = "auto",
    bidders_per_round: int = DEFAULT_BIDDERS_PER_ROUND,
    rounds_per_iteration: int = DEFAULT_ROUNDS_PER_ITERATION,
    kernel: str = "auto",
) -> AuctionResult:
  """Minimisation linear assignment by an epsilon-scaling auction.

  Finite costs are normalised to [0, 1] internally (subtract the minimum,
  divide by the range), so every eps is *relative to the range of the finite
  costs*. On convergence the total cost is within
  `n * eps_final * (max - min of the finite costs)` of the optimum.

  Warm starts: `prices` (and optionally `assignment`) from a previous call
  on a similar cost. They help only when column j means the same thing in
  both problems (e.g. slowly moving point clouds). With `assignment` the
  first eps is adaptive: the smallest eps for which the warm assignment is
  eps-complementary-slack under the new cost (at most the cold start), so a
  nearly unchanged problem is re-solved in a few bids. With `prices` alone
  the cold schedule is used (a short schedule from stale prices can be
  several times slower than cold).

  Special values:
    * `+inf` marks a forbidden pair. It is treated as a cost larger than any
      finite matching, so it is never chosen when a finite perfect matching
      exists; otherwise some forbidden pairs are chosen and `converged` is
      False.
    * NaN / `-inf`: a concrete cost raises ValueError. Under a trace (jit,
      vmap) they are treated like `+inf` and `converged` is False; the
      assignment is still a permutation.

  Args:
    cost: (n, m) float array, n <= m.
    prices: optional (m,) warm-start prices, e.g. `prices` from the previous
      call on a similar cost; in original cost units (shift invariant).
    assignment: optional (n,) int warm-start assignment, e.g. `assignment`
      of the previous call (needs `prices`); entries outside [0, m) and
      repeated columns count as unassigned.
    eps_final: final eps, relative; defaults to `1 / (n + 1) / 100`. Clamped
      to at least ~4.8e-7 (float32 resolution).
    eps_start: first eps, relative; defaults to 0.1, or the adaptive eps
      described above when `assignment` is given.
    eps_decay: geometric factor between eps phases, in (0, 1).
    max_rounds: cap on the total number of bidding rounds (bids, with
      Gauss-Seidel bidding); defaults to `default_max_rounds(n)`. When
      reached, the result has `converged=False` and the unassigned rows are
      completed greedily with free columns.
    bidding: static; "gauss_seidel" (one bid at a time, fastest on CPU),
      "jacobi" (batches of up to `bidders_per_round` bids, for
      accelerators) or "auto" (Gauss-Seidel when the default backend is the
      CPU, else Jacobi). The reverse auction of rectangular problems is
      always Jacobi.
    bidders_per_round: static; with Jacobi bidding, at most this many
      unassigned rows bid per round (a bounded batch keeps the late rounds
      cheap).
    rounds_per_iteration: static; Jacobi (and reverse) rounds per
      `while_loop` iteration. Gauss-Seidel bidding makes one bid per
      iteration.
    kernel: static; where the phases of a square problem with Gauss-Seidel
      bidding run on the CPU: "native" (the compiled kernel,
      `diwgan.assignment.native`; an error if it was not built), "jax" (the
      `lax.while_loop`) or "auto" (native when built). Both give the same
      result; rectangular problems, Jacobi bidding and other platforms
      always use the JAX loop.

  Returns:
    An `AuctionResult` with (n,) assignment, (m,) prices, () rounds and ()
    converged. Batches: `jax.vmap(auction)` over a leading axis of `cost`
    (and `prices`).

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    >>> result = auction(cost)
    >>> result.assignment.tolist(), bool(result.converged)
    ([1, 0, 2], True)
    >>> auction(cost + 0.01, prices=result.prices).assignment.tolist()  # warm
    [1, 0, 2]
    >>> jax.vmap(auction)(jnp.stack([cost, cost.T])).assignment.shape
    (2, 3)

  Raises:
    ValueError: if `cost` is not 2-D, has n > m, (when concrete) contains
      NaN or -inf, or the warm start has the wrong shape; for an unknown
      `kernel`, or "native" when the kernel was not built.
  """
  n, m = check_shape(cost)
  check_values(cost)
  bidding = resolve_bidding(bidding)
  if kernel not in KERNELS:
    raise ValueError(f"Unknown kernel {kernel!r}; valid: {KERNELS}.")
  if kernel == "native" and not native.available():
    raise ValueError(
        f"kernel='native': {native.unavailable_reason()}; reinstall with a "
        "C++17 compiler (pip install -e .) or use kernel='auto'.")
  use_native = (kernel != "jax" and bidding == "gauss_seidel" and n == m
                and native.available())
  if n == 0:
    prices = (jnp.zeros((m,), jnp.float32) if prices is None
              else jnp.asarray(prices, jnp.float32))
    return AuctionResult(
        assignment=jnp.zeros((0,), jnp.int32), prices=prices,
        rounds=jnp.zeros((), jnp.int32), converged=jnp.ones((), bool))
  if eps_final is None:
    eps_final = default_eps_final(n)
  if max_rounds is None:
    max_rounds = default_max_rounds(n)
  if assignment is not None and prices is None:
    raise ValueError("A warm-start `assignment` needs its `prices`.")
  if eps_start is None:
    eps_start = DEFAULT_EPS_START if assignment is None else -1.0
  if prices is None:
    prices = jnp.zeros((m,), jnp.float32)
  if np.shape(prices) != (m,):
    raise ValueError(
        f"prices must have shape ({m},) for cost of shape {(n, m)}, got "
        f"{np.shape(prices)}.")
  if assignment is None:
    assignment = jnp.full((n,), -1, jnp.int32)
  if np.shape(assignment) != (n,):
    raise ValueError(
        f"assignment must have shape ({n},) for cost of shape {(n, m)}, got "
        f"{np.shape(assignment)}.")
  return _auction(
      jnp.asarray(cost), jnp.asarray(prices), jnp.asarray(assignment),
      eps_final, eps_start, eps_decay, max_rounds, bidding=bidding,
      use_native=use_native,
      bidders_per_round=bidders_per_round,
      rounds_per_iteration=rounds_per_iteration)
