"""Linear assignment (minimisation) by an epsilon-scaling auction.

Each training step matches the generator's samples to the anchors by solving a
linear assignment problem on their distance matrix. `auction` does this in pure
JAX (jit/vmap friendly, warm-startable from the previous step's prices);
`hungarian` (optax, exact) and `scipy_assignment` (scipy on the host) are the
reference paths, and `match` dispatches between the three.

Conventions: rows are "persons" (anchors), columns are "objects", `n <= m`,
and every row is matched to a distinct column. The auction is Bertsekas'
auction with epsilon scaling: persons minimise `cost[i, j] + prices[j]` and
bid for their best column, raising its price by the gap to their second best
plus `eps`. At termination every row is assigned with eps-complementary
slackness, so the total cost is within `n * eps` of the optimum
(Bertsekas, "The auction algorithm: a distributed relaxation method", 1988).

Two bidding orders, same guarantees:
  * Gauss-Seidel (default on CPU): one person bids at a time against the
    latest prices and the person it evicts bids next. Every bid succeeds and
    costs three O(m) reductions, so on a CPU it beats batched bidding, whose
    bids collide when persons are alike (DIW-GAN's anchors come in tight
    clusters, and alike persons all want the same column).
  * Jacobi (default on accelerators): a bounded batch of unassigned persons
    bids at once; each round is one wide, parallel step.

Rectangular problems (`n < m`) also need every free column to be no dearer
than the cheapest held one; after each forward phase a reverse auction of the
free columns restores this (Bertsekas, Castanon & Tsaknakis, 1993).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

_F32_EPS = float(np.finfo(np.float32).eps)
# Smallest relative eps ever used: float32 prices near 1 cannot resolve less.
_MIN_RELATIVE_EPS = 4.0 * _F32_EPS

DEFAULT_EPS_START = 0.1
DEFAULT_EPS_DECAY = 0.2
DEFAULT_BIDDERS_PER_ROUND = 64
DEFAULT_ROUNDS_PER_ITERATION = 8
_SMALL_TIER = 16

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


def _resolve_bidding(bidding: str) -> str:
  if bidding not in BIDDING:
    raise ValueError(f"Unknown bidding {bidding!r}; valid: {BIDDING}.")
  if bidding == "auto":
    return "gauss_seidel" if jax.default_backend() == "cpu" else "jacobi"
  return bidding


def _max(x: jax.Array, axis: int = -1) -> jax.Array:
  """Max along `axis`, without NaN propagation.

  `jnp.max` must propagate NaN, which keeps XLA:CPU from vectorising the
  reduction; this select-based reduction runs ~2x faster there. The auction
  never reduces NaN (non-finite costs are replaced before bidding).
  """
  init = (-jnp.inf if jnp.issubdtype(x.dtype, jnp.floating)
          else jnp.iinfo(x.dtype).min)
  return jax.lax.reduce(x, jnp.asarray(init, x.dtype),
                        lambda a, b: jnp.where(a > b, a, b), (axis % x.ndim,))


def _min(x: jax.Array, axis: int = -1) -> jax.Array:
  """Min along `axis`, without NaN propagation (see `_max`)."""
  init = (jnp.inf if jnp.issubdtype(x.dtype, jnp.floating)
          else jnp.iinfo(x.dtype).max)
  return jax.lax.reduce(x, jnp.asarray(init, x.dtype),
                        lambda a, b: jnp.where(a < b, a, b), (axis % x.ndim,))


def _check_shape(cost: Any) -> tuple[int, int]:
  shape = tuple(np.shape(cost))
  if len(shape) != 2:
    raise ValueError(f"cost must be a 2-D (n, m) array, got shape {shape}.")
  n, m = shape
  if n > m:
    raise ValueError(
        f"cost must have n <= m (rows are matched to distinct columns), got "
        f"shape {shape}; pass the transpose.")
  return n, m


def _check_values(cost: Any) -> None:
  """Raises on NaN / -inf when the cost is concrete (not traced)."""
  if isinstance(cost, jax.core.Tracer):
    return
  values = np.asarray(cost)
  if np.issubdtype(values.dtype, np.floating) and not np.all(
      np.isfinite(values) | np.isposinf(values)):
    raise ValueError(
        "cost contains NaN or -inf entries; only finite costs and +inf "
        "(forbidden pairs) are supported.")


def _bid_round(
    carry: tuple[jax.Array, ...],
    benefit: jax.Array,
    eps: jax.Array,
    max_rounds: jax.Array,
    bidders: int,
) -> tuple[jax.Array, ...]:
  """One Jacobi bidding round.

  Args:
    carry: (prices (m,), owner (m,) person holding each column or -1,
      assign (n,) column of each person or -1, rounds ()).
    benefit: (n, m) benefits (negated normalised costs).
    eps: () bid increment.
    max_rounds: () cap; once reached the round is a no-op.
    bidders: static, at most this many unassigned persons bid.

  Returns:
    The updated carry.
  """
  prices, owner, assign, rounds = carry
  n, m = benefit.shape
  unassigned = assign < 0
  count = jnp.sum(unassigned, dtype=jnp.int32)
  active = (count > 0) & (rounds < max_rounds)
  # Any nonempty subset of unassigned persons may bid in a Jacobi auction:
  # a bounded batch makes the late rounds (few unassigned persons) cheap.
  (persons,) = jnp.nonzero(unassigned, size=bidders, fill_value=0)
  valid = (jnp.arange(bidders) < count) & active
  values = benefit[persons] - prices[None, :]  # (bidders, m)
  # Best and second-best by max reductions and a first-index min: XLA:CPU's
  # argmax (a variadic reduce) and top_k are 5-15x slower here.
  columns = jnp.arange(m, dtype=jnp.int32)
  best_val = _max(values, axis=1)
  best_col = _min(
      jnp.where(values == best_val[:, None], columns[None, :], m), axis=1)
  second_val = _max(
      jnp.where(columns[None, :] == best_col[:, None], -jnp.inf, values),
      axis=1)
  targets = best_col
  # A single column (m = 1) has no second best: any finite increment works.
  second_val = jnp.where(jnp.isfinite(second_val), second_val, best_val - 1.0)
  bids = prices[targets] + (best_val - second_val) + eps
  bids = jnp.where(valid, bids, -jnp.inf)
  best_bid = jnp.full((m,), -jnp.inf, prices.dtype).at[targets].max(bids)
  # Among equal highest bids the lowest person index wins.
  wins = valid & (bids >= best_bid[targets])
  winner = jnp.full((m,), n, jnp.int32).at[targets].min(
      jnp.where(wins, persons, n).astype(jnp.int32))
  sold = winner < n
  # nextafter keeps prices strictly increasing when eps is below float32
  # resolution at this price, so the auction always makes progress.
  new_prices = jnp.where(
      sold, jnp.maximum(best_bid, jnp.nextafter(prices, jnp.inf)), prices)
  evicted = jnp.where(sold & (owner >= 0), owner, n)
  assign = assign.at[evicted].set(-1, mode="drop")
  assign = assign.at[jnp.where(sold, winner, n)].set(
      jnp.arange(m, dtype=jnp.int32), mode="drop")
  owner = jnp.where(sold, winner, owner)
  rounds = rounds + active.astype(jnp.int32)
  return new_prices, owner, assign, rounds


def _reverse_round(
    carry: tuple[jax.Array, ...],
    benefit_t: jax.Array,
    eps: jax.Array,
    floor_price: jax.Array,
    max_rounds: jax.Array,
    bidders: int,
) -> tuple[jax.Array, ...]:
  """One Jacobi reverse-auction round of the free columns priced above lambda.

  Asymmetric problems (n < m) are eps-optimal only if every free column costs
  no more than lambda, the cheapest held column. A free column j above lambda
  lowers its price to lure its best person, or to lambda if none gains more
  than eps (Bertsekas, Castanon & Tsaknakis, 1993). All persons stay assigned
  and eps-CS is preserved.

  Args:
    carry: (prices (m,), owner (m,), assign (n,), rounds ()); every person is
      assigned.
    benefit_t: (m, n) transposed benefits.
    eps: () current eps.
    floor_price: () lambda.
    max_rounds: () cap; once reached the round is a no-op.
    bidders: static, at most this many free columns act per round.

  Returns:
    The updated carry.
  """
  prices, owner, assign, rounds = carry
  m, n = benefit_t.shape
  persons = jnp.arange(n, dtype=jnp.int32)
  profit = benefit_t[assign, persons] - prices[assign]  # (n,)
  pending = (owner < 0) & (prices > floor_price)
  count = jnp.sum(pending, dtype=jnp.int32)
  active = (count > 0) & (rounds < max_rounds)
  (objects,) = jnp.nonzero(pending, size=bidders, fill_value=0)
  valid = (jnp.arange(bidders) < count) & active
  values = benefit_t[objects] - profit[None, :]  # (bidders, n)
  rows = jnp.arange(n, dtype=jnp.int32)
  best_val = _max(values, axis=1)
  best_row = _min(
      jnp.where(values == best_val[:, None], rows[None, :], n), axis=1)
  second_val = _max(
      jnp.where(rows[None, :] == best_row[:, None], -jnp.inf, values), axis=1)
  targets = best_row
  settle = valid & (floor_price >= best_val - eps)
  lure = valid & ~settle
  offer = jnp.maximum(floor_price, second_val - eps)
  gain = jnp.where(lure, benefit_t[objects, targets] - offer, -jnp.inf)
  # A person lured by several columns takes the best offer.
  best_gain = jnp.full((n,), -jnp.inf, prices.dtype).at[targets].max(gain)
  accept = lure & (gain >= best_gain[targets])
  chosen = jnp.full((n,), m, jnp.int32).at[targets].min(
      jnp.where(accept, objects, m).astype(jnp.int32))
  moved = chosen < m
  won = lure & (chosen[targets] == objects)
  prices = prices.at[jnp.where(settle, objects, m)].set(
      floor_price, mode="drop")
  prices = prices.at[jnp.where(won, objects, m)].set(offer, mode="drop")
  owner = owner.at[jnp.where(moved, assign, m)].set(-1, mode="drop")
  owner = owner.at[jnp.where(moved, chosen, m)].set(persons, mode="drop")
  assign = jnp.where(moved, chosen, assign)
  rounds = rounds + active.astype(jnp.int32)
  return prices, owner, assign, rounds


def _release_violators(
    benefit: jax.Array, prices: jax.Array, owner: jax.Array,
    assign: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Unassigns the pairs that violate eps-complementary slackness.

  Args:
    benefit: (n, m) benefits.
    prices: (m,) prices.
    owner: (m,) person holding each column, -1 if none.
    assign: (n,) column of each person, -1 if none.
    eps: () the new eps.

  Returns:
    The updated (owner, assign).
  """
  n, _ = benefit.shape
  values = benefit - prices[None, :]
  best = _max(values, axis=1)
  own = jnp.take_along_axis(
      values, jnp.maximum(assign, 0)[:, None], axis=1)[:, 0]
  keep = (assign >= 0) & (own >= best - eps)
  assign = jnp.where(keep, assign, -1)
  owner_keeps = keep[jnp.clip(owner, 0, n - 1)]
  owner = jnp.where((owner >= 0) & owner_keeps, owner, -1)
  return owner, assign


def _tiered(round_fn, *args, bidders_per_round: int, bidders_max: int):
  """`round_fn(carry, *args, bidders)` with the batch size picked per round.

  Most late rounds have only a few unassigned persons (eviction chains), for
  which a small batch is several times cheaper: the batch is the smallest of
  (1, 16, bidders_per_round) that holds every candidate bidder.

  Args:
    round_fn: `_bid_round` or `_reverse_round`.
    *args: its arguments after `carry`, before `bidders`.
    bidders_per_round: the largest batch.
    bidders_max: the most candidates there can be.

  Returns:
    A function of the carry.
  """
  largest = max(1, min(bidders_per_round, bidders_max))
  tiers = sorted({min(t, largest) for t in (1, _SMALL_TIER, largest)})
  rounds = [lambda c, t=t: round_fn(c, *args, bidders=t) for t in tiers]
  if len(tiers) == 1:
    return rounds[0]
  limits = jnp.asarray(tiers[:-1], jnp.int32)

  def tiered(carry):
    prices, owner, assign, _ = carry
    if round_fn is _bid_round:
      count = jnp.sum(assign < 0, dtype=jnp.int32)
    else:
      count = jnp.sum((owner < 0) & (prices > args[2]), dtype=jnp.int32)
    return jax.lax.switch(jnp.sum(count > limits, dtype=jnp.int32), rounds,
                          carry)

  return tiered


def _gauss_seidel_phase(
    carry: tuple[jax.Array, ...],
    benefit: jax.Array,
    eps: jax.Array,
    max_rounds: jax.Array,
) -> tuple[jax.Array, ...]:
  """Forward bidding of one eps phase, one bid at a time (Gauss-Seidel).

  The unassigned persons queue up once; each bid is against the latest
  prices and always wins, and the person it evicts bids next, so no round
  searches for bidders and no bids collide. One bid per `while_loop`
  iteration: on CPU the loop costs less than the guards that unrolling
  would need.

  Args:
    carry: (prices (m,), owner (m,), assign (n,), rounds ()).
    benefit: (n, m) benefits.
    eps: () bid increment.
    max_rounds: () cap on the total number of bids.

  Returns:
    The updated carry; every person is assigned unless the cap was reached.
  """
  prices, owner, assign, rounds = carry
  n, m = benefit.shape
  columns = jnp.arange(m, dtype=jnp.int32)
  unassigned = assign < 0
  count = jnp.sum(unassigned, dtype=jnp.int32)
  (queue,) = jnp.nonzero(unassigned, size=n, fill_value=0)

  def bid(state):
    prices, owner, rounds, head, current = state
    take = current < 0
    person = jnp.where(take, queue[jnp.minimum(head, n - 1)], current)
    values = jax.lax.dynamic_index_in_dim(
        benefit, person, keepdims=False) - prices
    best = _max(values)
    column = _min(jnp.where(values == best, columns, m))
    second = _max(jnp.where(columns == column, -jnp.inf, values))
    # A single column (m = 1) has no second best: any finite increment works.
    second = jnp.where(jnp.isfinite(second), second, best - 1.0)
    old_price = prices[column]
    # nextafter keeps prices strictly increasing when eps is below float32
    # resolution at this price, so the auction always makes progress.
    price = jnp.maximum(old_price + (best - second) + eps,
                        jnp.nextafter(old_price, jnp.inf))
    prices = jax.lax.dynamic_update_index_in_dim(prices, price, column, 0)
    evicted = owner[column]
    owner = jax.lax.dynamic_update_index_in_dim(owner, person, column, 0)
    return (prices, owner, rounds + 1, head + take.astype(jnp.int32),
            evicted)

  def cond(state):
    _, _, rounds, head, current = state
    return ((head < count) | (current >= 0)) & (rounds < max_rounds)

  prices, owner, rounds, _, _ = jax.lax.while_loop(
      cond, bid, (prices, owner, rounds, jnp.zeros((), jnp.int32),
                  jnp.full((), -1, jnp.int32)))
  assign = jnp.full((n,), -1, jnp.int32).at[
      jnp.where(owner >= 0, owner, n)].set(columns, mode="drop")
  return prices, owner, assign, rounds


def _initial_matching(
    assignment: jax.Array, m: int) -> tuple[jax.Array, jax.Array]:
  """(owner (m,), assign (n,)) of a warm-start assignment.

  Entries outside [0, m) and all but the first row claiming a column are
  treated as unassigned.
  """
  n = assignment.shape[0]
  rows = jnp.arange(n, dtype=jnp.int32)
  in_range = (assignment >= 0) & (assignment < m)
  claim = jnp.full((m,), n, jnp.int32).at[
      jnp.where(in_range, assignment, m)].min(rows, mode="drop")
  valid = in_range & (claim[jnp.clip(assignment, 0, m - 1)] == rows)
  assign = jnp.where(valid, assignment, -1)
  owner = jnp.where(claim < n, claim, -1)
  return owner, assign


@functools.partial(
    jax.jit,
    static_argnames=("bidding", "bidders_per_round", "rounds_per_iteration"))
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
) -> AuctionResult:
  """Jitted core of `auction`; see there.

  `prices` are in original units; `assignment` is all -1 for no warm start;
  a negative `eps_start` asks for the adaptive warm-start eps.
  """
  n, m = cost.shape
  cost = cost.astype(jnp.float32)
  # Normalise finite costs to [0, 1] so eps is relative to the cost range.
  plus_inf = jnp.isposinf(cost)
  finite = jnp.isfinite(cost)
  invalid = jnp.any(~finite & ~plus_inf)  # NaN or -inf.
  low = jnp.min(jnp.where(finite, cost, jnp.inf))
  high = jnp.max(jnp.where(finite, cost, -jnp.inf))
  spread = high - low
  any_finite = jnp.any(finite)
  scale = jnp.where(any_finite & (spread > 0), spread, 1.0)
  low = jnp.where(any_finite, low, 0.0)
  normalised = (cost - low) / scale
  # Forbidden (+inf) and invalid pairs cost more than any finite matching:
  # 2 (n + 1) > n * (1 + eps), so they are used only if unavoidable.
  forbidden_cost = 2.0 * (n + 1)
  normalised = jnp.where(finite, normalised, forbidden_cost)
  benefit = -normalised

  prices = prices.astype(jnp.float32) / scale
  prices = prices - jnp.min(prices)
  eps_final = jnp.maximum(
      jnp.asarray(eps_final, jnp.float32), _MIN_RELATIVE_EPS)
  eps_start = jnp.asarray(eps_start, jnp.float32)
  eps_decay = jnp.asarray(eps_decay, jnp.float32)
  max_rounds = jnp.asarray(max_rounds, jnp.int32)

  owner, assign = _initial_matching(assignment.astype(jnp.int32), m)

  def warm_start(args):
    owner, assign, eps_start = args
    # Adaptive eps: the smallest for which the warm assignment is
    # eps-complementary-slack under the new cost and the warm prices, so the
    # first phase keeps it whole and the phases are spent only on what the
    # cost changed (capped at the cold start).
    values = benefit - prices[None, :]
    slack = _max(values, axis=1) - jnp.take_along_axis(
        values, jnp.maximum(assign, 0)[:, None], axis=1)[:, 0]
    adaptive = jnp.minimum(_max(jnp.where(assign >= 0, slack, 0.0)),
                           DEFAULT_EPS_START)
    # Slack within float32 rounding of eps_final (the returned prices were
    # rescaled) counts as eps_final-CS: a solved problem needs no bids.
    rounding = _MIN_RELATIVE_EPS * jnp.maximum(1.0, jnp.max(prices))
    adaptive = jnp.where(adaptive <= eps_final + rounding, eps_final, adaptive)
    eps_start = jnp.where(eps_start < 0, adaptive, eps_start)
    eps_start = jnp.maximum(eps_start, eps_final)
    owner, assign = _release_violators(benefit, prices, owner, assign,
                                       eps_start + rounding)
    return owner, assign, eps_start

  def cold_start(args):
    owner, assign, eps_start = args
    eps_start = jnp.where(eps_start < 0, DEFAULT_EPS_START, eps_start)
    return owner, assign, jnp.maximum(eps_start, eps_final)

  owner, assign, eps_start = jax.lax.cond(
      jnp.any(assign >= 0), warm_start, cold_start,
      (owner, assign, eps_start))

  # All-equal costs: any assignment is optimal; skip the bidding (which
  # would need one round per row, every person wanting the same column).
  degenerate = (spread <= 0) & ~invalid & jnp.all(finite)
  rows = jnp.arange(n, dtype=jnp.int32)
  columns = jnp.arange(m, dtype=jnp.int32)
  assign = jnp.where(degenerate, rows, assign)
  owner = jnp.where(degenerate, jnp.where(columns < n, columns, -1), owner)
  rounds = jnp.zeros((), jnp.int32)
  last_phase = eps_start <= eps_final

  benefit_t = benefit.T if n < m else None

  def bid_round(carry, eps):
    return _tiered(_bid_round, benefit, eps, max_rounds,
                   bidders_per_round=bidders_per_round, bidders_max=n)(carry)

  def rounds_cond(carry):
    _, _, assign, rounds = carry
    return jnp.any(assign < 0) & (rounds < max_rounds)

  def solve_phase(state):
    prices, owner, assign, rounds, eps, last_phase, _ = state
    if bidding == "gauss_seidel":
      prices, owner, assign, rounds = _gauss_seidel_phase(
          (prices, owner, assign, rounds), benefit, eps, max_rounds)
    else:
      def rounds_body(carry):
        # Several rounds per while iteration amortise the loop overhead;
        # rounds after completion are no-ops.
        return jax.lax.fori_loop(
            0, rounds_per_iteration, lambda _, c: bid_round(c, eps), carry)

      prices, owner, assign, rounds = jax.lax.while_loop(
          rounds_cond, rounds_body, (prices, owner, assign, rounds))
    complete = jnp.all(assign >= 0)
    if n < m:
      floor_price = jnp.min(jnp.where(owner >= 0, prices, jnp.inf))
      reverse_round = _tiered(
          _reverse_round, benefit_t, eps, floor_price, max_rounds,
          bidders_per_round=bidders_per_round, bidders_max=m - n)

      def reverse_cond(carry):
        prices, owner, _, rounds = carry
        return (jnp.any((owner < 0) & (prices > floor_price))
                & (rounds < max_rounds))

      def reverse_body(carry):
        return jax.lax.fori_loop(
            0, rounds_per_iteration, lambda _, c: reverse_round(c), carry)

      prices, owner, assign, rounds = jax.lax.cond(
          complete,
          lambda c: jax.lax.while_loop(reverse_cond, reverse_body, c),
          lambda c: c, (prices, owner, assign, rounds))
      slack = jnp.any((owner < 0) & (prices > floor_price))
    else:
      slack = jnp.zeros((), bool)
    done = complete & last_phase & ~slack

    def next_phase(args):
      prices, owner, assign, eps, last_phase = args
      target = jnp.where(
          last_phase, eps_final, jnp.maximum(eps * eps_decay, eps_final))
      prices = prices - jnp.min(prices)
      # float32 prices cannot resolve eps below ~1.2e-7 x the price scale.
      floor = _MIN_RELATIVE_EPS * jnp.maximum(1.0, jnp.max(prices))
      new_eps = jnp.maximum(target, floor)
      owner, assign = _release_violators(benefit, prices, owner, assign,
                                         new_eps)
      return prices, owner, assign, new_eps, target <= eps_final

    prices, owner, assign, eps, last_phase = jax.lax.cond(
        complete & ~done, next_phase, lambda args: args,
        (prices, owner, assign, eps, last_phase))
    return prices, owner, assign, rounds, eps, last_phase, done

  def phases_cond(state):
    rounds, done = state[3], state[6]
    return ~done & (rounds < max_rounds)

  prices, owner, assign, rounds, _, _, done = jax.lax.while_loop(
      phases_cond, solve_phase,
      (prices, owner, assign, rounds, eps_start, last_phase, degenerate))

  # Guarantee a permutation even when stopped early: the r-th unassigned row
  # takes the r-th free column.
  (free,) = jnp.nonzero(owner < 0, size=n, fill_value=0)
  unassigned = assign < 0
  rank = jnp.cumsum(unassigned.astype(jnp.int32)) - 1
  result = jnp.where(unassigned, free[jnp.clip(rank, 0, n - 1)], assign)
  result = result.astype(jnp.int32)
  chosen_forbidden = jnp.any(~finite[rows, result])
  converged = done & ~invalid & ~chosen_forbidden
  return AuctionResult(
      assignment=result,
      prices=prices * scale,
      rounds=rounds,
      converged=converged,
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
      NaN or -inf, or the warm start has the wrong shape.
  """
  n, m = _check_shape(cost)
  _check_values(cost)
  bidding = _resolve_bidding(bidding)
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
      bidders_per_round=bidders_per_round,
      rounds_per_iteration=rounds_per_iteration)


def _exact_result(assignment: jax.Array, m: int) -> AuctionResult:
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
  n, m = _check_shape(cost)
  cost = jnp.asarray(cost)
  rows, cols = optax.assignment.hungarian_algorithm(cost)
  assignment = jnp.zeros((n,), jnp.int32).at[rows].set(cols.astype(jnp.int32))
  return _exact_result(assignment, m)


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
  n, m = _check_shape(cost)
  cost = jnp.asarray(cost)
  assignment = jax.pure_callback(
      _scipy_columns, jax.ShapeDtypeStruct((n,), jnp.int32), cost,
      vmap_method="sequential")
  return _exact_result(assignment, m)


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
    method: "auction" (default, pure JAX), "hungarian" (optax, exact) or
      "scipy" (host callback, exact).
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
