"""The phases of the epsilon-scaling auction, each a function of its own.

Bertsekas' auction (minimisation form): persons minimise `cost[i, j] +
prices[j]`, i.e. maximise `benefit[i, j] - prices[j]` with `benefit = -cost`,
and bid for their best column, raising its price by the gap to their second
best plus `eps`. The driver (`diwgan.assignment.driver`) runs one forward
phase per eps, releases the pairs that are not eps-complementary-slack for the
next eps (`release_violators`) and, for rectangular problems, a reverse phase
of the free columns. Two forward bidding orders, same guarantees:

  * Gauss-Seidel (`gauss_seidel_phase`): one person bids at a time against
    the latest prices and the person it evicts bids next;
  * Jacobi (`jacobi_round`): a bounded batch of free persons bids at once,
    one wide parallel step per round (`tiered` picks the batch size).

Every function takes and returns the solver's carry `(prices (m,), owner (m,)
person holding each column or -1, assign (n,) column of each person or -1,
rounds ())`, so each can be run, tested and profiled on its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diwgan.assignment.base import (
    MIN_RELATIVE_EPS, SMALL_TIER, best_two, max_no_nan)

def jacobi_round(
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
  best_val, targets, second_val = best_two(values)
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


def reverse_round(
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
  best_val, targets, second_val = best_two(values)
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


def release_violators(
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
  best = max_no_nan(values, axis=1)
  own = jnp.take_along_axis(
      values, jnp.maximum(assign, 0)[:, None], axis=1)[:, 0]
  keep = (assign >= 0) & (own >= best - eps)
  assign = jnp.where(keep, assign, -1)
  owner_keeps = keep[jnp.clip(owner, 0, n - 1)]
  owner = jnp.where((owner >= 0) & owner_keeps, owner, -1)
  return owner, assign


def tiered(round_fn, *args, bidders_per_round: int, bidders_max: int):
  """`round_fn(carry, *args, bidders)` with the batch size picked per round.

  Most late rounds have only a few unassigned persons (eviction chains), for
  which a small batch is several times cheaper: the batch is the smallest of
  (1, 16, bidders_per_round) that holds every candidate bidder.

  Args:
    round_fn: `jacobi_round` or `reverse_round`.
    *args: its arguments after `carry`, before `bidders`.
    bidders_per_round: the largest batch.
    bidders_max: the most candidates there can be.

  Returns:
    A function of the carry.
  """
  largest = max(1, min(bidders_per_round, bidders_max))
  tiers = sorted({min(t, largest) for t in (1, SMALL_TIER, largest)})
  rounds = [lambda c, t=t: round_fn(c, *args, bidders=t) for t in tiers]
  if len(tiers) == 1:
    return rounds[0]
  limits = jnp.asarray(tiers[:-1], jnp.int32)

  def tiered(carry):
    prices, owner, assign, _ = carry
    if round_fn is jacobi_round:
      count = jnp.sum(assign < 0, dtype=jnp.int32)
    else:
      count = jnp.sum((owner < 0) & (prices > args[2]), dtype=jnp.int32)
    return jax.lax.switch(jnp.sum(count > limits, dtype=jnp.int32), rounds,
                          carry)

  return tiered


def gauss_seidel_phase(
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
    best, column, second = best_two(values)
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


def initial_matching(
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


def forward_phase(
    carry: tuple[jax.Array, ...],
    benefit: jax.Array,
    eps: jax.Array,
    max_rounds: jax.Array,
    *,
    bidding: str,
    bidders_per_round: int,
    rounds_per_iteration: int,
) -> tuple[jax.Array, ...]:
  """Forward bidding of one eps phase until every person is assigned.

  Args:
    carry: (prices, owner, assign, rounds).
    benefit: (n, m) benefits.
    eps: () bid increment.
    max_rounds: () cap on the rounds (bids for Gauss-Seidel).
    bidding: static, "gauss_seidel" or "jacobi".
    bidders_per_round: static, the largest Jacobi batch.
    rounds_per_iteration: static, Jacobi rounds per `while_loop` iteration.

  Returns:
    The updated carry; every person is assigned unless the cap was reached.
  """
  if bidding == "gauss_seidel":
    return gauss_seidel_phase(carry, benefit, eps, max_rounds)
  n = benefit.shape[0]
  bid_round = tiered(jacobi_round, benefit, eps, max_rounds,
                     bidders_per_round=bidders_per_round, bidders_max=n)

  def cond(carry):
    _, _, assign, rounds = carry
    return jnp.any(assign < 0) & (rounds < max_rounds)

  def body(carry):
    # Several rounds per while iteration amortise the loop overhead; rounds
    # after completion are no-ops.
    return jax.lax.fori_loop(
        0, rounds_per_iteration, lambda _, c: bid_round(c), carry)

  return jax.lax.while_loop(cond, body, carry)


def reverse_phase(
    carry: tuple[jax.Array, ...],
    benefit_t: jax.Array,
    eps: jax.Array,
    max_rounds: jax.Array,
    complete: jax.Array,
    *,
    bidders_per_round: int,
    rounds_per_iteration: int,
) -> tuple[tuple[jax.Array, ...], jax.Array]:
  """Reverse auction of the free columns priced above the cheapest held one.

  Rectangular problems (n < m) only, after a complete forward phase.

  Args:
    carry: (prices, owner, assign, rounds).
    benefit_t: (m, n) transposed benefits.
    eps: () current eps.
    max_rounds: () cap on the rounds.
    complete: () bool, every person is assigned (else nothing is done).
    bidders_per_round, rounds_per_iteration: static, as `forward_phase`.

  Returns:
    (carry, slack): the updated carry, and whether a free column is still
    dearer than the cheapest held one (the cap was reached).
  """
  m, n = benefit_t.shape
  prices, owner = carry[0], carry[1]
  floor_price = jnp.min(jnp.where(owner >= 0, prices, jnp.inf))
  step = tiered(reverse_round, benefit_t, eps, floor_price, max_rounds,
                bidders_per_round=bidders_per_round, bidders_max=m - n)

  def cond(carry):
    prices, owner, _, rounds = carry
    return jnp.any((owner < 0) & (prices > floor_price)) & (rounds < max_rounds)

  def body(carry):
    return jax.lax.fori_loop(
        0, rounds_per_iteration, lambda _, c: step(c), carry)

  carry = jax.lax.cond(complete, lambda c: jax.lax.while_loop(cond, body, c),
                       lambda c: c, carry)
  prices, owner = carry[0], carry[1]
  return carry, jnp.any((owner < 0) & (prices > floor_price))


def next_phase(
    benefit: jax.Array,
    carry: tuple[jax.Array, ...],
    eps: jax.Array,
    last_phase: jax.Array,
    *,
    eps_final: jax.Array,
    eps_decay: jax.Array,
) -> tuple[tuple[jax.Array, ...], jax.Array, jax.Array]:
  """The next eps and the pairs that stay assigned under it.

  Prices are shifted to a zero minimum; eps shrinks by `eps_decay` (never
  below `eps_final`, nor below float32 resolution at the price scale); the
  pairs that are not eps-complementary-slack for it are released.

  Returns:
    (carry, eps, last_phase) for the next phase.
  """
  prices, owner, assign, rounds = carry
  target = jnp.where(
      last_phase, eps_final, jnp.maximum(eps * eps_decay, eps_final))
  prices = prices - jnp.min(prices)
  # float32 prices cannot resolve eps below ~1.2e-7 x the price scale.
  floor = MIN_RELATIVE_EPS * jnp.maximum(1.0, jnp.max(prices))
  new_eps = jnp.maximum(target, floor)
  owner, assign = release_violators(benefit, prices, owner, assign, new_eps)
  return (prices, owner, assign, rounds), new_eps, target <= eps_final
