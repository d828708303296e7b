"""Fully-connected networks of the mixture experiments (docs/method.md, Training details).

G: 3 hidden layers of 128, no batch norm, no dropout; D: 2 hidden layers of
128; auto-encoder: 2-layer MLP encoder and decoder.
"""

from typing import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
  """ReLU MLP with a linear output layer.

  Attributes:
    hidden: widths of the hidden layers.
    out_dim: width of the output layer.
  """

  hidden: Sequence[int]
  out_dim: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out_dim)(x)


class MLPGenerator(nn.Module):
  """Maps noise (b, noise_dim) to samples (b, data_dim)."""

  data_dim: int
  hidden: Sequence[int] = (128, 128, 128)

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    return MLP(self.hidden, self.data_dim)(z)


class MLPDiscriminator(nn.Module):
  """Maps samples (b, data_dim) to logits (b,)."""

  hidden: Sequence[int] = (128, 128)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return MLP(self.hidden, 1)(x)[..., 0]


class MLPAutoEncoder(nn.Module):
  """Encoder (b, d) -> (b, latent_dim) and decoder back, 2 layers each."""

  data_dim: int
  latent_dim: int = 8
  hidden: int = 128

  def setup(self):
    self.encoder = MLP((self.hidden,), self.latent_dim)
    self.decoder = MLP((self.hidden,), self.data_dim)

  def encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(x)

  def decode(self, latents: jax.Array) -> jax.Array:
    return self.decoder(latents)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.decode(self.encode(x))
