"""The DIW term in one call: what a generator step adds to its loss.

`diw_term(anchors, latents, importance_state)` runs the whole per-step chain
of docs/method.md ("Every generator step"): distances between the fixed
anchors and this step's generated latents, the optimal one-to-one matching,
the two importance weights from the ring buffers, the weighted matched
distance, and the buffers' update. It is pure and jit/vmap/grad friendly,
and it is what `diwgan.methods.DIWGAN` itself calls, so a GAN written from
scratch gets exactly the project's term:

    term, importance_state, aux = diwgan.diw_term(
        anchors, encode(G(z)), importance_state)
    loss = adversarial_loss + alpha * term

The pieces (`distances`, `assignment`, `importance`, `losses`) stay public
for those who want another combination.
"""

from typing import Any, Callable, Mapping, NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp

from diwgan import assignment as assignment_lib
from diwgan.assignment import base as assignment_base
from diwgan import distances
from diwgan import importance
from diwgan import losses


class DIWAux(NamedTuple):
  """What the DIW term computed besides its value (all without gradient).

  Attributes:
    assignment: (B,) int32, the generated latent matched to each anchor.
    matched_distances: (B,) `C[i, pi(i)]` of each anchor.
    generator_weights: (B,) `w_g`, one per generated latent.
    target_weights: (B,) `w_r`, one per anchor.
    prices: (B,) auction prices (zeros for the exact matchers).
    rounds: () int32 auction bids (0 for the exact matchers).
    converged: () bool, the matching reached its accuracy.
  """

  assignment: jax.Array
  matched_distances: jax.Array
  generator_weights: jax.Array
  target_weights: jax.Array
  prices: jax.Array
  rounds: jax.Array
  converged: jax.Array


def solve_once(
    solve: Callable[[jax.Array], assignment_lib.AuctionResult],
    cost: jax.Array,
    axis_name: Optional[str],
) -> assignment_lib.AuctionResult:
  """`solve(cost)`, computed on the first device of `axis_name` only.

  Under a device axis every device holds the same gathered cost. Solving it
  on each would repeat the same work N times (on CPU devices that share
  cores, N times the CPU time; with the scipy matcher, N host callbacks
  that block the other devices' collectives). The first device solves it
  and a `psum` hands its result to the others (theirs are zeros), so every
  device gets bitwise the same matching.

  Args:
    solve: cost -> AuctionResult.
    cost: (n, m) the same on every device.
    axis_name: the device axis, or None (then just `solve(cost)`).

  Returns:
    The `AuctionResult` of the first device.

  Example:
    >>> import jax.numpy as jnp
    >>> from diwgan import assignment
    >>> cost = jnp.array([[4.0, 1.0], [2.0, 0.0]])
    >>> solve_once(assignment.auction, cost, None).assignment.tolist()
    [1, 0]
  """
  if axis_name is None:
    return solve(cost)
  shapes = jax.eval_shape(solve, cost)

  def nothing(cost):
    del cost
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  result = jax.lax.cond(jax.lax.axis_index(axis_name) == 0, solve, nothing,
                        cost)
  # psum has no boolean form: the flag travels as an integer.
  summed = jax.lax.psum(result._replace(
      converged=result.converged.astype(jnp.int32)), axis_name)
  return summed._replace(converged=summed.converged > 0)


def diw_term(
    anchors: jax.typing.ArrayLike,
    latents: jax.typing.ArrayLike,
    importance_state: importance.ImportanceState,
    *,
    distance: str = "euclidean",
    matcher: str = "auction",
    auction_options: Optional[Mapping[str, Any]] = None,
    random_matching_key: Optional[jax.Array] = None,
    use_generator_weights: bool = True,
    use_target_weights: bool = True,
    generator_bandwidth: Union[str, float] = "scott",
    generator_weight_exponent: float = 1.0,
    target_weight_exponent: float = 1.0,
    generator_weight_clip: Optional[Tuple[float, float]] = None,
    target_weight_clip: Optional[Tuple[float, float]] = None,
    axis_name: Optional[str] = None,
) -> Tuple[jax.Array, importance.ImportanceState, DIWAux]:
  """The weighted matched distance of one generator step.

  `mean_i(w_r[i] * w_g[pi(i)] * C[i, pi(i)])` with `C = dist(anchors,
  latents)`, `pi` the optimal assignment of `C` and the weights under
  `stop_gradient`: the gradient reaches `latents` through the matched
  distances only. The weights are read from the buffers before this step's
  latents and distances are written into them.

  Args:
    anchors: (B, k) the fixed real anchors `S_r`.
    latents: (B, k) this step's generated latents `s_g = E(G(z))`.
    importance_state: the ring buffers (`importance.init_importance_state`).
    distance: "euclidean" ([DIW]) or "sqeuclidean" ([poster]); the short
      names are those of docs/method.md, References.
    matcher: "auction", "hungarian" or "scipy" (`assignment.match`).
    auction_options: keyword arguments of `assignment.auction`.
    random_matching_key: a PRNG key to pair anchors with a random
      permutation instead of the optimal assignment (the ablation); None
      for the optimal one.
    use_generator_weights: False sets `w_g` to ones.
    use_target_weights: False sets `w_r` to ones.
    generator_bandwidth: bandwidth of the KDE over past latents.
    generator_weight_exponent / target_weight_exponent: exponents.
    generator_weight_clip / target_weight_clip: optional (low, high) clips.
    axis_name: under `shard_map`, the device axis over which `latents` were
      all-gathered, so that every device holds the same problem: it is then
      solved on one device and broadcast (`solve_once`).

  Returns:
    (term, new_importance_state, aux): the () term, the buffers with this
    step written, and a `DIWAux`.

  Example:
    >>> import jax
    >>> from diwgan import importance
    >>> anchors = jax.random.normal(jax.random.key(0), (16, 8))
    >>> latents = jax.random.normal(jax.random.key(1), (16, 8))
    >>> state = importance.init_importance_state(10, 16, 8)
    >>> term, state, aux = diw_term(anchors, latents, state)
    >>> term.shape, int(state.count), aux.assignment.shape
    ((), 1, (16,))
  """
  anchors = jnp.asarray(anchors)
  latents = jnp.asarray(latents)
  cost = distances.pairwise_distances(anchors, latents, kind=distance)
  fixed_cost = jax.lax.stop_gradient(cost)
  num_anchors, num_latents = cost.shape
  if random_matching_key is not None:
    # A random pairing, reported like an exact solver's result.
    result = assignment_base.exact_result(
        jax.random.permutation(random_matching_key, num_latents)[
            :num_anchors].astype(jnp.int32), num_latents)
  else:
    # No warm start: the columns are fresh samples every step, so the last
    # step's column prices say nothing about this step's columns
    # (docs/benchmarks.md).
    if matcher == "scipy" and not auction_options:
      # The points cross to the host, not the B x B cost (see
      # `scipy_assignment_from_points`).
      def solve(cost):
        del cost
        return assignment_lib.scipy_assignment_from_points(
            jax.lax.stop_gradient(anchors), jax.lax.stop_gradient(latents),
            kind=distance)
    else:
      def solve(cost):
        return assignment_lib.match(
            cost, method=matcher, **dict(auction_options or {}))
    result = solve_once(solve, fixed_cost, axis_name)

  if use_generator_weights:
    generator_weights = importance.generator_weights(
        latents, importance_state, bandwidth=generator_bandwidth,
        exponent=generator_weight_exponent, clip=generator_weight_clip)
  else:
    generator_weights = jnp.ones((num_latents,), jnp.float32)
  if use_target_weights:
    target_weights = importance.target_weights(
        importance_state, exponent=target_weight_exponent,
        clip=target_weight_clip)
  else:
    target_weights = jnp.ones((num_anchors,), jnp.float32)

  term = losses.matched_distance_loss(
      cost, result.assignment, target_weights=target_weights,
      generator_weights=generator_weights)
  matched = losses.matched_costs(fixed_cost, result.assignment)
  new_state = importance.update_importance_state(
      importance_state, latents, matched)
  aux = DIWAux(
      assignment=result.assignment, matched_distances=matched,
      generator_weights=generator_weights, target_weights=target_weights,
      prices=result.prices, rounds=result.rounds,
      converged=result.converged)
  return term, new_state, aux
