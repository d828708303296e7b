"""The standard GAN game that the baselines share: D's cross-entropy, G's loss.

Every baseline of docs/baselines.md except BMS-VAE-GAN (hinge loss) trains its
discriminator with the binary cross-entropy of the GAN paper and its
generator with the non-saturating loss, as `diwgan.methods.DIWGAN` does for
the plain GAN, so that the methods differ only by their own mechanism.
"""

from typing import Tuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan import losses
from diwgan.training import Metrics


def discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Tuple[jax.Array, Metrics]:
  """Binary cross-entropy of D and its mean outputs, as DIWGAN reports them.

  Args:
    real_logits: (b,) logits on samples labelled real (1).
    fake_logits: (b',) logits on samples labelled generated (0).

  Returns:
    (loss, metrics): () loss; metrics 'd_real' and 'd_fake', the mean
    D(x) = sigmoid(logit) on each side.
  """
  real_logits = jnp.asarray(real_logits)
  fake_logits = jnp.asarray(fake_logits)
  loss = losses.discriminator_loss(real_logits, fake_logits)
  return loss, {
      "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
      "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
  }


def generator_loss(
    fake_logits: ArrayLike, *, saturating: bool = False
) -> jax.Array:
  """Non-saturating `-mean(log D(G(z)))`, or the saturating minimax loss.

  Args:
    fake_logits: (b,) discriminator logits on generated samples.
    saturating: use `mean(log(1 - D(G(z))))` instead.

  Returns:
    () loss.
  """
  if saturating:
    return losses.generator_loss_saturating(fake_logits)
  return losses.generator_loss_nonsaturating(fake_logits)
