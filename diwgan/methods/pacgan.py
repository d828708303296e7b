"""PacGAN (Lin et al., 2018): the discriminator judges packs of m samples.

D sees m samples of one kind (all real or all generated) concatenated into
one input, so it can penalise a generator whose samples lack diversity
within a pack; everything else is the plain GAN (non-saturating G loss). The
networks' discriminator is reused on the packed input: its first layer
simply becomes m times wider (rows side by side for the mixtures; images
stacked along the channel axis, m c channels, as in PacGAN's image
experiments).

Budget: one batch of B samples becomes B / m packs, so every method sees
the same B real and B generated samples per step. (The paper keeps the
number of packs equal to the unpacked batch size, i.e. m times more samples
per step; `--config.batch_size=<m B>` reproduces that.)
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan.methods import adversarial
from diwgan.training import Method


def pack(samples: ArrayLike, pack_size: int) -> jax.Array:
  """Joins consecutive groups of `pack_size` samples along the last axis.

  Rows (2-D mixtures) are concatenated side by side; images are stacked as
  channels, as PacGAN's image experiments pack them.

  Args:
    samples: (b, d) rows or (b, h, w, c) images, b a multiple of
      `pack_size`.
    pack_size: m >= 1.

  Returns:
    (b // m, m * d) packs of rows, pack p being `samples[p m], ...,
    samples[p m + m - 1]` side by side; for images (b // m, h, w, m * c),
    the channels of image `p m + i` at `[..., i c : (i + 1) c]`.

  Example:
    >>> import jax.numpy as jnp
    >>> pack(jnp.arange(8.0).reshape(4, 2), 2).tolist()
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    >>> pack(jnp.zeros((8, 4, 4, 3)), 4).shape
    (2, 4, 4, 12)
  """
  samples = jnp.asarray(samples)
  if pack_size < 1:
    raise ValueError(f"pack_size must be >= 1, got {pack_size}.")
  batch = samples.shape[0]
  if batch % pack_size:
    raise ValueError(
        f"PacGAN needs a batch size divisible by the pack size; got batch "
        f"{batch} and pack size {pack_size}.")
  if samples.ndim == 2:
    return samples.reshape(batch // pack_size, pack_size * samples.shape[1])
  # (b/m, m, ..., c) -> (b/m, ..., m, c) -> (b/m, ..., m c).
  grouped = samples.reshape((batch // pack_size, pack_size) + samples.shape[1:])
  return jnp.moveaxis(grouped, 1, -2).reshape(
      grouped.shape[:1] + samples.shape[1:-1]
      + (pack_size * samples.shape[-1],))


@dataclasses.dataclass(frozen=True)
class PacGAN(Method):
  """The plain GAN with a discriminator on packs.

  Attributes:
    pack_size: m, samples per pack (the paper's PacGAN2-4; default 4).
  """

  pack_size: int = 4
  name: str = "pacgan"

  def __post_init__(self):
    if self.pack_size < 1:
      raise ValueError(f"pack_size must be >= 1, got {self.pack_size}.")

  def init_params(self, key, networks, real_example):
    g_key, d_key = jax.random.split(key)
    packed_example = pack(
        jnp.repeat(real_example[:1], self.pack_size, axis=0), self.pack_size)
    return (
        {"generator": networks.generator.init(
            g_key, networks.sample_noise(g_key, 1))},
        {"discriminator": networks.discriminator.init(d_key, packed_example)},
    )

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    fake = jax.lax.stop_gradient(
        networks.generate(generator_params, key, real.shape[0]))
    disc = networks.discriminator.apply
    params = discriminator_params["discriminator"]
    return adversarial.discriminator_loss(
        disc(params, pack(real, self.pack_size)),
        disc(params, pack(fake, self.pack_size)))

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    fake = networks.generate(generator_params, key, real.shape[0])
    logits = networks.discriminator.apply(
        discriminator_params["discriminator"], pack(fake, self.pack_size))
    loss = adversarial.generator_loss(logits)
    return loss, ({"adversarial_loss": loss}, method_state)
