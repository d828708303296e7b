"""GAN with neighbour embedding ([GNE] in docs/method.md, References).

The generator loss gets a t-SNE-style regulariser that keeps the neighbour
structure of the noise batch in the generated batch (eqs. 1-4):

  L_G = -mean(log D(G(z))) + weight * KL(P || Q),
  p_ij = (1 + ||z_i - z_j||^2)^-1 / sum_{k != l} (1 + ||z_k - z_l||^2)^-1,
  q_ij = the same with G(z_i), G(z_j),

Student-t (one degree of freedom) similarities on both sides, as the proposal
([GNE]) chooses, over the pairs i != j of one batch; generated images are
compared as flattened pixel vectors. P depends only on the noise, so
the gradient reaches G through Q alone. The proposal's generator loss is the
saturating one; here it is the non-saturating loss every method of this
project uses, so that the regulariser is the only difference from `gan`.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan import distances
from diwgan.methods import adversarial
from diwgan.training import Method


def log_student_t_similarities(points: ArrayLike) -> jax.Array:
  """Log of the joint Student-t similarities of a batch (eqs. 3-4).

  Args:
    points: (b, ...) points, b >= 2; each is flattened to a vector (an
      image's pixels), so images compare by their euclidean pixel distance.

  Returns:
    (b, b) `log p_ij`, normalised over i != j; the diagonal is -inf.
  """
  points = jnp.asarray(points)
  batch = points.shape[0]
  points = points.reshape(batch, -1)
  squared = distances.pairwise_distances(points, points, kind="sqeuclidean")
  off_diagonal = ~jnp.eye(batch, dtype=bool)
  logits = jnp.where(off_diagonal, -jnp.log1p(squared), -jnp.inf)
  return logits - jax.nn.logsumexp(logits)


def neighbour_embedding_kl(noise: ArrayLike, samples: ArrayLike) -> jax.Array:
  """KL(P || Q) between the t-similarities of the noise and of the samples.

  Args:
    noise: (b, k) noise z, b >= 2.
    samples: (b, ...) generated samples G(z) (rows or images, flattened),
      sample i from noise row i.

  Returns:
    () `sum_{i != j} p_ij log(p_ij / q_ij)` >= 0, with P held constant.
  """
  log_p = jax.lax.stop_gradient(log_student_t_similarities(noise))
  log_q = log_student_t_similarities(samples)
  # Zero the -inf diagonal before subtracting: no inf - inf, even unused.
  off_diagonal = ~jnp.eye(log_p.shape[0], dtype=bool)
  log_p = jnp.where(off_diagonal, log_p, 0.0)
  log_q = jnp.where(off_diagonal, log_q, 0.0)
  terms = jnp.where(off_diagonal, jnp.exp(log_p) * (log_p - log_q), 0.0)
  return jnp.sum(terms)


@dataclasses.dataclass(frozen=True)
class GNE(Method):
  """The plain GAN plus the neighbour-embedding KL on the generator.

  Attributes:
    weight: weight of KL(P || Q) in the generator loss (the proposal adds it
      with weight 1).
  """

  weight: float = 1.0
  name: str = "gne"

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    fake = jax.lax.stop_gradient(
        networks.generate(generator_params, key, real.shape[0]))
    disc = networks.discriminator.apply
    params = discriminator_params["discriminator"]
    return adversarial.discriminator_loss(
        disc(params, real), disc(params, fake))

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    noise = networks.sample_noise(key, real.shape[0])
    fake = networks.generator.apply(generator_params["generator"], noise)
    adversarial_term = adversarial.generator_loss(
        networks.discriminator.apply(
            discriminator_params["discriminator"], fake))
    if context.axis_name is not None:
      # The similarities are normalised over all pairs of the global batch:
      # gather it, as one device holding the whole batch would see it.
      noise = jax.lax.all_gather(noise, context.axis_name, tiled=True)
      fake = jax.lax.all_gather(fake, context.axis_name, tiled=True)
    kl = neighbour_embedding_kl(noise, fake)
    metrics = {"adversarial_loss": adversarial_term, "neighbour_kl": kl}
    return adversarial_term + self.weight * kl, (metrics, method_state)
