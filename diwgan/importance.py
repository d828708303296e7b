"""The dual importance weights of DIW-GAN and the ring buffers behind them.

Section 3 of the DIW-GAN paper defines two weights per generator step:

* the generator weight `w_g[j]`: how typical generated latent `s_g[j]` is of the
  generator, i.e. its density under a KDE of the generated latents of the last
  N steps;
* the target weight `w_r[i]`: how uncovered real anchor `i` has stayed, i.e. its
  mean matched distance over the last N steps.

Both are normalised to mean 1 over the batch (docs/method.md). The history lives
in `ImportanceState`, an explicit pytree carried in the train state.
"""

from typing import NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan import kde as kde_lib


class ImportanceState(NamedTuple):
  """Ring buffers of the last `history` generator steps.

  Attributes:
    latents: (history, batch, k) generated latents `s_g` of past steps.
    distances: (history, batch) matched distance of each anchor in past steps.
    count: () int32, number of filled slots (at most `history`).
    position: () int32, slot the next step writes to.
  """

  latents: jax.Array
  distances: jax.Array
  count: jax.Array
  position: jax.Array


def init_importance_state(
    history: int, batch_size: int, latent_dim: int
) -> ImportanceState:
  """Empty buffers for `history` steps of `batch_size` latents of `latent_dim`.

  Args:
    history: N, the number of past steps the buffers hold.
    batch_size: B, latents (and anchors) per step.
    latent_dim: k, the latent dimension.

  Returns:
    An `ImportanceState` with (N, B, k) latents, (N, B) distances and zero
    `count` and `position`.

  Example:
    >>> state = init_importance_state(history=3, batch_size=4, latent_dim=2)
    >>> state.latents.shape, state.distances.shape, int(state.count)
    ((3, 4, 2), (3, 4), 0)
  """
  if history < 1:
    raise ValueError(f"history must be >= 1, got {history}.")
  return ImportanceState(
      latents=jnp.zeros((history, batch_size, latent_dim), jnp.float32),
      distances=jnp.zeros((history, batch_size), jnp.float32),
      count=jnp.zeros((), jnp.int32),
      position=jnp.zeros((), jnp.int32),
  )


def update_importance_state(
    state: ImportanceState, latents: ArrayLike, matched_distances: ArrayLike
) -> ImportanceState:
  """Writes one step into the ring buffers, overwriting the oldest slot.

  Args:
    state: the buffers.
    latents: (batch, k) generated latents of this step.
    matched_distances: (batch,) matched distance of each anchor this step.

  Returns:
    The updated buffers.

  Example:
    >>> import jax.numpy as jnp
    >>> state = init_importance_state(history=3, batch_size=4, latent_dim=2)
    >>> state = update_importance_state(state, jnp.ones((4, 2)), jnp.arange(4.0))
    >>> int(state.count), int(state.position), state.distances[0].tolist()
    (1, 1, [0.0, 1.0, 2.0, 3.0])
  """
  latents = jax.lax.stop_gradient(jnp.asarray(latents, jnp.float32))
  matched_distances = jax.lax.stop_gradient(
      jnp.asarray(matched_distances, jnp.float32)
  )
  history = state.latents.shape[0]
  return ImportanceState(
      latents=state.latents.at[state.position].set(latents),
      distances=state.distances.at[state.position].set(matched_distances),
      count=jnp.minimum(state.count + 1, history),
      position=(state.position + 1) % history,
  )


def _filled_mask(state: ImportanceState) -> jax.Array:
  history = state.latents.shape[0]
  # Slots are filled in order 0, 1, ..., so the first `count` are valid.
  return jnp.arange(history) < state.count


def shape_weights(
    weights: ArrayLike,
    *,
    exponent: float = 1.0,
    clip: Optional[Tuple[float, float]] = None,
) -> jax.Array:
  """Optional knobs of docs/method.md (exponent, clip), then normalisation to mean 1.

  Args:
    weights: (b,) non-negative weights.
    exponent: weights are raised to this power first (1 = unchanged).
    clip: optional (low, high) bounds applied after normalising to mean 1; the
      result is normalised to mean 1 again.

  Returns:
    (b,) weights with mean 1 (all ones if every input weight is zero).

  Example:
    >>> import jax.numpy as jnp
    >>> print(shape_weights(jnp.array([1.0, 3.0])))
    [0.5 1.5]
    >>> print(shape_weights(jnp.array([1.0, 3.0]), clip=(0.75, 1.25)))
    [0.75 1.25]
  """
  weights = jnp.asarray(weights, jnp.float32)
  if exponent != 1.0:
    weights = weights**exponent
  weights = _normalise_mean_one(weights)
  if clip is not None:
    weights = _normalise_mean_one(jnp.clip(weights, clip[0], clip[1]))
  return weights


def _normalise_mean_one(weights: jax.Array) -> jax.Array:
  mean = jnp.mean(weights)
  return jnp.where(mean > 0, weights / jnp.where(mean > 0, mean, 1.0), 1.0)


def generator_weights(
    latents: ArrayLike,
    state: ImportanceState,
    *,
    bandwidth: Union[str, float] = "scott",
    exponent: float = 1.0,
    clip: Optional[Tuple[float, float]] = None,
    chunk_size: int = 1024,
) -> jax.Array:
  """Generator importance weights `w_g` of this step's latents.

  Args:
    latents: (b, k) generated latents `s_g` of this step.
    state: buffers with the generated latents of past steps.
    bandwidth: KDE bandwidth of the buffer KDE (see `kde.fit_kde`).
    exponent: optional exponent on the weights.
    clip: optional (low, high) clip range, see `shape_weights`.
    chunk_size: reference chunk of the KDE evaluation.

  Returns:
    (b,) weights with mean 1, under `stop_gradient`; all ones while the
    buffer is empty.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> state = init_importance_state(history=2, batch_size=4, latent_dim=2)
    >>> latents = jax.random.normal(jax.random.key(0), (4, 2))
    >>> print(generator_weights(latents, state))  # empty buffer
    [1. 1. 1. 1.]
    >>> state = update_importance_state(state, latents, jnp.ones(4))
    >>> weights = generator_weights(latents, state)
    >>> weights.shape, round(float(weights.mean()), 4)
    ((4,), 1.0)
  """
  latents = jax.lax.stop_gradient(jnp.asarray(latents, jnp.float32))
  history, batch, dim = state.latents.shape
  points = state.latents.reshape(history * batch, dim)
  mask = jnp.repeat(_filled_mask(state), batch).astype(jnp.float32)
  # A KDE needs a non-degenerate covariance: with an empty buffer, fit on
  # uniform weights and discard the result below.
  any_filled = state.count > 0
  mask = jnp.where(any_filled, mask, 1.0)
  buffer_kde = kde_lib.fit_kde(points, bandwidth=bandwidth, weights=mask)
  # One pass per chunk (`kde_log_density`'s bound shift): a latent far from
  # every buffered one gets -inf, i.e. weight 0, as its density relative to
  # the batch's densest one would underflow to anyway.
  log_density = kde_lib.kde_log_density(
      buffer_kde, latents, chunk_size=chunk_size, single_pass=True
  )
  # exp(log p - max) keeps the ratio exact where the densities themselves
  # would underflow float32 in high dimension. Every latent that far (the
  # generator moved by many buffer deviations in one step) gives uniform
  # weights.
  peak = jnp.max(log_density)
  relative = jnp.where(
      jnp.isfinite(peak), jnp.exp(log_density - peak), jnp.ones_like(log_density))
  weights = shape_weights(relative, exponent=exponent, clip=clip)
  return jax.lax.stop_gradient(
      jnp.where(any_filled, weights, jnp.ones_like(weights))
  )


def target_weights(
    state: ImportanceState,
    *,
    exponent: float = 1.0,
    clip: Optional[Tuple[float, float]] = None,
) -> jax.Array:
  """Target importance weights `w_r`: mean matched distance of each anchor.

  Args:
    state: buffers with the matched distances of past steps.
    exponent: optional exponent on the weights.
    clip: optional (low, high) clip range, see `shape_weights`.

  Returns:
    (b,) weights with mean 1, under `stop_gradient`; all ones while the
    buffer is empty.

  Example:
    >>> import jax.numpy as jnp
    >>> state = init_importance_state(history=2, batch_size=2, latent_dim=1)
    >>> state = update_importance_state(
    ...     state, jnp.zeros((2, 1)), jnp.array([1.0, 3.0]))
    >>> print(target_weights(state))  # anchor 1 is twice as far as average
    [0.5 1.5]
  """
  mask = _filled_mask(state).astype(jnp.float32)
  total = jnp.sum(state.distances * mask[:, None], axis=0)
  mean_distance = total / jnp.maximum(state.count, 1).astype(jnp.float32)
  weights = shape_weights(mean_distance, exponent=exponent, clip=clip)
  return jax.lax.stop_gradient(
      jnp.where(state.count > 0, weights, jnp.ones_like(weights))
  )
