"""GAN losses and the DIW matched-distance term, as pure functions.

All take discriminator logits (pre-sigmoid) so that `log D` is computed stably.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import optax


def discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> jax.Array:
  """Binary cross-entropy of the discriminator (GAN paper, eq. 1).

  `-mean(log D(x)) - mean(log(1 - D(G(z))))`.

  Args:
    real_logits: (b,) or (b, 1) logits on real samples.
    fake_logits: (b',) or (b', 1) logits on generated samples.

  Returns:
    () loss.

  Example:
    >>> import jax.numpy as jnp
    >>> round(float(discriminator_loss(jnp.zeros(4), jnp.zeros(4))), 4)
    1.3863
  """
  real_logits = jnp.asarray(real_logits)
  fake_logits = jnp.asarray(fake_logits)
  real = optax.sigmoid_binary_cross_entropy(
      real_logits, jnp.ones_like(real_logits)
  )
  fake = optax.sigmoid_binary_cross_entropy(
      fake_logits, jnp.zeros_like(fake_logits)
  )
  return jnp.mean(real) + jnp.mean(fake)


def generator_loss_nonsaturating(fake_logits: ArrayLike) -> jax.Array:
  """Non-saturating generator loss `-mean(log D(G(z)))`.

  Args:
    fake_logits: (b,) or (b, 1) discriminator logits on generated samples.

  Returns:
    () loss.

  Example:
    >>> import jax.numpy as jnp
    >>> round(float(generator_loss_nonsaturating(jnp.zeros(4))), 4)  # log 2
    0.6931
  """
  fake_logits = jnp.asarray(fake_logits)
  return jnp.mean(
      optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits))
  )


def generator_loss_saturating(fake_logits: ArrayLike) -> jax.Array:
  """Saturating (minimax) generator loss `mean(log(1 - D(G(z))))`.

  Args:
    fake_logits: (b,) or (b, 1) discriminator logits on generated samples.

  Returns:
    () loss.

  Example:
    >>> import jax.numpy as jnp
    >>> round(float(generator_loss_saturating(jnp.zeros(4))), 4)  # -log 2
    -0.6931
  """
  fake_logits = jnp.asarray(fake_logits)
  return -jnp.mean(
      optax.sigmoid_binary_cross_entropy(
          fake_logits, jnp.zeros_like(fake_logits)
      )
  )


def matched_costs(cost: ArrayLike, assignment: ArrayLike) -> jax.Array:
  """`cost[i, assignment[i]]` for every row i.

  Args:
    cost: (n, m) cost matrix.
    assignment: (n,) int column of each row.

  Returns:
    (n,) matched costs, differentiable with respect to `cost`.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[1.0, 5.0], [5.0, 3.0]])
    >>> matched_costs(cost, jnp.array([1, 0])).tolist()
    [5.0, 5.0]
  """
  cost = jnp.asarray(cost)
  assignment = jnp.asarray(assignment)
  return jnp.take_along_axis(cost, assignment[:, None], axis=1)[:, 0]


def matched_distance_loss(
    cost: ArrayLike,
    assignment: ArrayLike,
    *,
    target_weights: ArrayLike | None = None,
    generator_weights: ArrayLike | None = None,
) -> jax.Array:
  """The DIW term `mean_i(w_r[i] * w_g[pi(i)] * C[i, pi(i)])` (docs/method.md).

  Weights and assignment are held constant (`stop_gradient`): the gradient
  flows only through the matched costs.

  Args:
    cost: (n, m) cost between anchors (rows) and generated latents (columns).
    assignment: (n,) int, `pi(i)`: the generated latent matched to anchor i.
    target_weights: (n,) `w_r`, one per anchor; ones when None.
    generator_weights: (m,) `w_g`, one per generated latent; ones when None.

  Returns:
    () weighted mean matched cost.

  Example:
    >>> import jax.numpy as jnp
    >>> cost = jnp.array([[1.0, 5.0], [5.0, 3.0]])
    >>> float(matched_distance_loss(cost, jnp.array([0, 1])))
    2.0
    >>> float(matched_distance_loss(
    ...     cost, jnp.array([0, 1]), target_weights=jnp.array([0.5, 1.5])))
    2.5
  """
  cost = jnp.asarray(cost)
  assignment = jax.lax.stop_gradient(jnp.asarray(assignment))
  n, m = cost.shape
  if target_weights is None:
    target_weights = jnp.ones((n,), cost.dtype)
  if generator_weights is None:
    generator_weights = jnp.ones((m,), cost.dtype)
  target_weights = jax.lax.stop_gradient(jnp.asarray(target_weights))
  generator_weights = jax.lax.stop_gradient(jnp.asarray(generator_weights))
  weights = target_weights * generator_weights[assignment]
  return jnp.mean(weights * matched_costs(cost, assignment))
