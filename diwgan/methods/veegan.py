"""VEEGAN (Srivastava et al., 2017): a reconstructor F: x -> z and a joint D.

Per the VEEGAN poster (Srivastava et al., "VEEGAN") and the paper's Algorithm 1:

- The reconstructor defines a distribution p_theta(z|x) = N(F(x), s^2 I)
  (s = `reconstructor_noise_std`, 1 by default), whose negative log density
  is the l2 loss d below up to scale and a constant.
- The discriminator D(z, x) sees pairs and estimates the log density ratio
  `log q(x|z) p0(z) / p_theta(z|x) p(x)`: generator pairs (z, G(z)),
  z ~ p0 = N(0, I), are labelled 1 and reconstructor pairs (z_g, x),
  x real, z_g ~ p_theta(z|x), are labelled 0 (binary cross-entropy, O_LR;
  Algorithm 1 samples z_g from p_theta). The sampling matters when the noise
  has more dimensions than the data: a deterministic F(x) lies on a
  data-dimensional manifold that D separates from N(0, I) at once.
- The generator G and the reconstructor F minimise together
  `O_hat = mean_i D(z_i, G(z_i)) + mean_i d(z_i, F(G(z_i)))`, the KL estimate
  (the raw logit, not a log-sigmoid) plus an auto-encoder loss in noise space,
  with d the l2 loss `||z - F(G(z))||^2` (squared, summed over the noise
  dimensions). F receives gradient only from the d term, as in Algorithm 1.

F lives in the generator-side parameters ('reconstructor'), so the generic
step updates it with G's optimizer. D reuses the networks' discriminator:
on rows (b, d) it sees the concatenation [z, x], its first layer widened to
noise_dim + data_dim (the mixtures); on images (b, h, w, c) it reads x with
its convolutions and z joins before its dense output,
`discriminator(x, z)` (`diwgan.models.ConvDiscriminator`'s `condition`, as in
VEEGAN's image experiments). F is an MLP, or the network given as
`reconstructor_network` (a convolutional encoder on images).
"""

import dataclasses
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan import models
from diwgan.methods import adversarial
from diwgan.training import Method
from diwgan.training import sample_rows


def reconstruction_loss(noise: ArrayLike, reconstructed: ArrayLike) -> jax.Array:
  """The l2 auto-encoder loss in noise space, `mean_i ||z_i - F(G(z_i))||^2`.

  Args:
    noise: (b, k) noise z.
    reconstructed: (b, k) reconstructions F(G(z)).

  Returns:
    () mean over the batch of the squared euclidean distance.

  Example:
    >>> import jax.numpy as jnp
    >>> float(reconstruction_loss(jnp.zeros((2, 2)), jnp.array([[3., 4.], [0., 1.]])))
    13.0
  """
  noise = jnp.asarray(noise)
  reconstructed = jnp.asarray(reconstructed)
  return jnp.mean(jnp.sum((noise - reconstructed) ** 2, axis=-1))


def joint(noise: ArrayLike, samples: ArrayLike) -> jax.Array:
  """The discriminator's input `[z, x]`: (b, k), (b, d) -> (b, k + d)."""
  return jnp.concatenate([jnp.asarray(noise), jnp.asarray(samples)], axis=-1)


def _pair_inputs(noise: jax.Array, samples: jax.Array) -> tuple:
  """D's arguments for (z, x) pairs: `([z, x],)` for rows, `(x, z)` else."""
  if samples.ndim == 2:
    return (joint(noise, samples),)
  return (samples, noise)


def pair_logits(
    discriminator: nn.Module, params: Any, noise: ArrayLike,
    samples: ArrayLike
) -> jax.Array:
  """D(z, x) of each (z, x) pair, for rows or images.

  Rows (b, d) reach D as one input `[z, x]` (`joint`); images (b, h, w, c)
  as `discriminator(x, z)`, D reading x with its convolutions and joining z
  before its dense output (`diwgan.models.ConvDiscriminator`'s
  `condition`).

  Args:
    discriminator: the flax module D.
    params: its variables.
    noise: (b, k) noise z.
    samples: (b, d) rows or (b, h, w, c) images x.

  Returns:
    (b,) logits.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from diwgan import models
    >>> d = models.MLPDiscriminator((8,))
    >>> z, x = jnp.zeros((3, 4)), jnp.ones((3, 2))
    >>> params = d.init(jax.random.key(0), joint(z, x))
    >>> pair_logits(d, params, z, x).shape
    (3,)
  """
  noise, samples = jnp.asarray(noise), jnp.asarray(samples)
  return discriminator.apply(params, *_pair_inputs(noise, samples))


@dataclasses.dataclass(frozen=True)
class VEEGAN(Method):
  """VEEGAN with an MLP (or any given) reconstructor.

  Attributes:
    reconstructor_hidden: hidden widths of the MLP F (default: the
      discriminator's); unused with `reconstructor_network`.
    reconstruction_weight: weight of the d term in O_hat (1 in the paper).
    reconstructor_noise_std: s, the std of p_theta(z|x) around F(x); 0 makes
      the reconstructor deterministic.
    reconstructor_network: F as a flax module, samples -> (b, noise_dim)
      (on images a convolutional encoder,
      `ConvDiscriminator(out_dim=noise_dim)`); None: the MLP.
  """

  reconstructor_hidden: Sequence[int] = (128, 128)
  reconstruction_weight: float = 1.0
  reconstructor_noise_std: float = 1.0
  reconstructor_network: Optional[nn.Module] = None
  name: str = "veegan"

  def reconstructor(self, networks) -> nn.Module:
    if self.reconstructor_network is not None:
      return self.reconstructor_network
    return models.MLP(tuple(self.reconstructor_hidden), networks.noise_dim)

  def init_params(self, key, networks, real_example):
    g_key, f_key, d_key = jax.random.split(key, 3)
    noise = networks.sample_noise(g_key, 1)
    return (
        {"generator": networks.generator.init(g_key, noise),
         "reconstructor": self.reconstructor(networks).init(
             f_key, real_example)},
        {"discriminator": networks.discriminator.init(
            d_key, *_pair_inputs(noise, real_example))},
    )

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    noise_key, reconstructor_key = jax.random.split(key)
    noise = networks.sample_noise(noise_key, real.shape[0])
    fake = networks.generator.apply(generator_params["generator"], noise)
    real_noise = self.reconstructor(networks).apply(
        generator_params["reconstructor"], real)
    # Per-row noise through `sample_rows`: N devices draw what one would.
    real_noise = real_noise + self.reconstructor_noise_std * sample_rows(
        lambda k, num: jax.random.normal(
            k, (num,) + real_noise.shape[1:], real_noise.dtype),
        reconstructor_key, real.shape[0], context.axis_name)
    fake, real_noise = jax.lax.stop_gradient((fake, real_noise))
    params = discriminator_params["discriminator"]
    # Generator pairs are class 1, reconstructor pairs class 0 (O_LR).
    loss, metrics = adversarial.discriminator_loss(
        pair_logits(networks.discriminator, params, noise, fake),
        pair_logits(networks.discriminator, params, real_noise, real))
    return loss, {"d_generator_pairs": metrics["d_real"],
                  "d_reconstructor_pairs": metrics["d_fake"]}

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    noise = networks.sample_noise(key, real.shape[0])
    fake = networks.generator.apply(generator_params["generator"], noise)
    logits = pair_logits(networks.discriminator,
                         discriminator_params["discriminator"], noise, fake)
    adversarial_term = jnp.mean(logits)
    reconstructed = self.reconstructor(networks).apply(
        generator_params["reconstructor"], fake)
    reconstruction = reconstruction_loss(noise, reconstructed)
    loss = adversarial_term + self.reconstruction_weight * reconstruction
    metrics = {
        "adversarial_loss": adversarial_term,
        "reconstruction_loss": reconstruction,
    }
    return loss, (metrics, method_state)
