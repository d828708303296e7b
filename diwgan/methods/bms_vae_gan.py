"""BMS-VAE-GAN (Bhattacharyya et al., "Best-of-Many-Samples" Distribution Matching).

A hybrid VAE-GAN ("Best-of-Many-Samples Distribution Matching", eq. 7 and
Algorithm 1, which follows the alpha-GAN of Rosca et al. 2019):

- Encoder q(z|x) = N(mu(x), diag sigma^2(x)); the decoder is the generator G.
- "Best of many samples" reconstruction: for each real x draw T latents
  z_1..z_T ~ q(z|x), decode them, and charge only the best one,
  `min_t ||x - G(z_t)||_1` (the log-sum-exp of the multi-sample likelihood
  estimated by its max; l1 as in the paper, l2 optional).
- Prior term: KL(q(z) || p(z)) estimated by a latent classifier C (an MLP on
  z, trained to tell z ~ p(z) = N(0, I), label 1, from z ~ q(z|x), label 0):
  the encoder minimises `mean(-logit C(z))` over its samples, the synthetic
  likelihood ratio form of the prior term.
- Synthetic likelihood: a discriminator D_I with every layer spectrally
  normalised (Lipschitz 1), trained with the hinge loss to score real x high
  and generated x low, its output used directly as the log likelihood ratio.
  The generator is charged with the least realistic of the T reconstructions,
  `-mean_x min_t D_I(G(z_t))`, and, as in alpha-GAN, with samples from the
  prior, `-mean D_I(G(z))`, z ~ N(0, I).

Generator-side loss: `reconstruction_weight * best-of-T l1 + synthetic_weight
* synthetic + prior_weight * prior`; discriminator side: D_I's hinge loss
(real vs. all T reconstructions and the prior samples, the two generated
kinds weighted 1/2 each) plus C's binary cross-entropy. The encoder lives with G ('encoder'), C with D_I
('latent_classifier'), so the generic step trains them jointly (the paper's
Algorithm 1 also trains jointly). D_I's power-iteration vectors (flax's
`nn.SpectralNorm` 'batch_stats') are method state, refined once per step by
the generator loss (one power iteration per update, as SN-GAN does).

Evaluation samples come from the prior through the decoder, like every other
method's.

Networks: MLPs by default (the mixtures); on images the registry passes a
convolutional encoder (`encoder_network`) and a spectrally normalised
convolutional D_I (`synthetic_discriminator_network`, the run's
discriminator with `spectral_norm=True`), docs/baselines.md, "Image sets".
Reconstruction errors sum over every axis of a sample (pixels and
channels for images).
"""

import dataclasses
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from diwgan import losses
from diwgan import models
from diwgan.training import Method, Networks, sample_rows

RECONSTRUCTION_KINDS = ("l1", "l2")


class BestOfMany(NamedTuple):
  """The best of T reconstructions of each data point.

  Attributes:
    error: (b,) the smallest reconstruction error of each point.
    index: (b,) int, which of the T samples attains it.
  """

  error: jax.Array
  index: jax.Array


def reconstruction_errors(
    data: ArrayLike, reconstructions: ArrayLike, *, kind: str = "l1"
) -> jax.Array:
  """Per-sample reconstruction errors of T reconstructions of a batch.

  Args:
    data: (b, ...) data points x: rows (b, d) or images (b, h, w, c).
    reconstructions: (T, b, ...) reconstructions, `[t, i]` of point i.
    kind: "l1" (sum of absolute differences) or "l2" (sum of squares),
      summed over every axis of a point.

  Returns:
    (T, b) errors.
  """
  data = jnp.asarray(data)
  reconstructions = jnp.asarray(reconstructions)
  diffs = reconstructions - data[None]
  point_axes = tuple(range(2, diffs.ndim))
  if kind == "l1":
    return jnp.sum(jnp.abs(diffs), axis=point_axes)
  if kind == "l2":
    return jnp.sum(diffs**2, axis=point_axes)
  raise ValueError(
      f"Unknown reconstruction {kind!r}; valid: {RECONSTRUCTION_KINDS}.")


def best_of_many(errors: ArrayLike) -> BestOfMany:
  """The minimum over the T samples of each point's error.

  Args:
    errors: (T, b) errors, `[t, i]` of sample t of point i.

  Returns:
    BestOfMany with (b,) errors and (b,) indices; the gradient flows to the
    selected sample only.

  Example:
    >>> import jax.numpy as jnp
    >>> best_of_many(jnp.array([[3.0, 1.0], [2.0, 5.0]])).index.tolist()
    [1, 0]
  """
  errors = jnp.asarray(errors)
  index = jnp.argmin(errors, axis=0)
  error = jnp.take_along_axis(errors, index[None], axis=0)[0]
  return BestOfMany(error=error, index=index)


class GaussianEncoder(nn.Module):
  """q(z|x): samples (b, ...) -> (mean (b, k), log-variance (b, k)).

  Attributes:
    latent_dim: k, the noise dimension of the generator.
    hidden: hidden widths of the MLP.
    network: a flax module samples -> (b, 2 k) used instead of the MLP (a
      convolutional encoder on images); its first k outputs are the mean.
  """

  latent_dim: int
  hidden: Sequence[int] = (128, 128)
  network: Optional[nn.Module] = None

  @nn.compact
  def __call__(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    if self.network is None:
      out = models.MLP(tuple(self.hidden), 2 * self.latent_dim)(x)
    else:
      out = self.network(x)
    return out[..., :self.latent_dim], out[..., self.latent_dim:]


class SyntheticDiscriminator(nn.Module):
  """D_I on rows: a ReLU MLP (b, d) -> (b,), spectrally normalised by default.

  With `update_stats=True` (and `mutable=['batch_stats']`) the stored power
  iteration vectors are refined and returned. Without spectral norm the
  network has no 'batch_stats' and `update_stats` does nothing.

  Attributes:
    hidden: hidden widths.
    spectral_norm: wrap every dense layer in `nn.SpectralNorm` (Lipschitz 1,
      the paper's D_I); False gives a plain MLP.
  """

  hidden: Sequence[int] = (128, 128)
  spectral_norm: bool = True

  def _dense(self, width, x, update_stats):
    if self.spectral_norm:
      return nn.SpectralNorm(nn.Dense(width))(x, update_stats=update_stats)
    return nn.Dense(width)(x)

  @nn.compact
  def __call__(self, x: jax.Array, *, update_stats: bool) -> jax.Array:
    for width in self.hidden:
      x = nn.relu(self._dense(width, x, update_stats))
    return self._dense(1, x, update_stats)[..., 0]


class BMSState(NamedTuple):
  """BMS-VAE-GAN's persistent state, part of the checkpoint.

  Attributes:
    spectral_stats: D_I's 'batch_stats' (power-iteration u and sigma; empty
      without spectral norm).
  """

  spectral_stats: Any


class _Reconstruction(NamedTuple):
  latents: jax.Array  # (T, b, k) samples of q(z|x)
  reconstructions: jax.Array  # (T, b, ...) their decodings


@dataclasses.dataclass(frozen=True)
class BMSVAEGAN(Method):
  """Best-of-Many-Samples VAE-GAN.

  Attributes:
    num_samples: T, latent samples per data point.
    reconstruction_weight: weight of the best-of-T reconstruction term.
    synthetic_weight: weight of D_I's synthetic likelihood term.
    prior_weight: weight of the classifier estimate of the prior KL.
    reconstruction: "l1" (paper) or "l2".
    encoder_hidden: hidden widths of the MLP encoder.
    discriminator_hidden: hidden widths of the MLP D_I (the networks' D's
      widths).
    latent_classifier_hidden: hidden widths of C.
    spectral_norm: spectrally normalise the MLP D_I (the paper's choice);
      False trains a plain MLP D_I with the same hinge loss.
    encoder_network: the encoder's network, samples -> (b, 2 k) (mean, then
      log-variance), instead of the MLP of `encoder_hidden`; on images a
      convolutional encoder (`ConvDiscriminator(out_dim=2 k)`).
    synthetic_discriminator_network: D_I, instead of the spectrally
      normalised MLP of `discriminator_hidden`: a module called as
      `(x, update_stats=...)` -> (b,) logits, its power-iteration vectors in
      'batch_stats' (on images `ConvDiscriminator(spectral_norm=True)`).
  """

  num_samples: int = 10
  reconstruction_weight: float = 1.0
  synthetic_weight: float = 1.0
  prior_weight: float = 1.0
  reconstruction: str = "l1"
  encoder_hidden: Sequence[int] = (128, 128)
  discriminator_hidden: Sequence[int] = (128, 128)
  latent_classifier_hidden: Sequence[int] = (128, 128)
  spectral_norm: bool = True
  encoder_network: Optional[nn.Module] = None
  synthetic_discriminator_network: Optional[nn.Module] = None
  name: str = "bms_vae_gan"

  def __post_init__(self):
    if self.num_samples < 1:
      raise ValueError(f"num_samples must be >= 1, got {self.num_samples}.")
    if self.reconstruction not in RECONSTRUCTION_KINDS:
      raise ValueError(
          f"Unknown reconstruction {self.reconstruction!r}; valid: "
          f"{RECONSTRUCTION_KINDS}.")

  def encoder(self, networks: Networks) -> GaussianEncoder:
    return GaussianEncoder(networks.noise_dim, tuple(self.encoder_hidden),
                           network=self.encoder_network)

  def synthetic_discriminator(self) -> nn.Module:
    if self.synthetic_discriminator_network is not None:
      return self.synthetic_discriminator_network
    return SyntheticDiscriminator(tuple(self.discriminator_hidden),
                                  spectral_norm=self.spectral_norm)

  def latent_classifier(self) -> models.MLPDiscriminator:
    return models.MLPDiscriminator(tuple(self.latent_classifier_hidden))

  def init_params(self, key, networks, real_example):
    g_key, e_key, d_key, c_key = jax.random.split(key, 4)
    noise = networks.sample_noise(g_key, 1)
    variables = self.synthetic_discriminator().init(
        d_key, real_example, update_stats=False)
    return (
        {"generator": networks.generator.init(g_key, noise),
         "encoder": self.encoder(networks).init(e_key, real_example)},
        {"discriminator": variables["params"],
         "latent_classifier": self.latent_classifier().init(c_key, noise)},
    )

  def init_state(
      self, key: jax.Array, networks: Networks, real_example: jax.Array
  ) -> BMSState:
    """Random power-iteration vectors shaped like D_I's layers."""
    variables = self.synthetic_discriminator().init(
        key, real_example, update_stats=False)
    return BMSState(spectral_stats=variables.get("batch_stats", {}))

  def _reconstruct(self, generator_params, real, key, networks, axis_name):
    mean, log_variance = self.encoder(networks).apply(
        generator_params["encoder"], real)
    # (T, b, k) noise whose rows are this device's rows of the global draw
    # (`sample_rows` splits axis 0, hence the transposes).
    eps = jnp.moveaxis(sample_rows(
        lambda k, num: jnp.moveaxis(jax.random.normal(
            k, (self.num_samples, num) + mean.shape[1:], mean.dtype), 1, 0),
        key, mean.shape[0], axis_name), 0, 1)
    latents = mean[None] + jnp.exp(0.5 * log_variance)[None] * eps
    flat = latents.reshape(-1, latents.shape[-1])
    decoded = networks.generator.apply(generator_params["generator"], flat)
    return _Reconstruction(
        latents=latents,
        reconstructions=decoded.reshape(
            latents.shape[:2] + decoded.shape[1:]))

  def _synthetic_logits(self, discriminator_params, state, x, update_stats):
    variables = {"params": discriminator_params["discriminator"],
                 "batch_stats": state.spectral_stats}
    if update_stats:
      logits, updates = self.synthetic_discriminator().apply(
          variables, x, update_stats=True, mutable=["batch_stats"])
      return logits, BMSState(
          spectral_stats=updates.get("batch_stats", {}))
    logits = self.synthetic_discriminator().apply(
        variables, x, update_stats=False)
    return logits, state

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    rec_key, sample_key, prior_key = jax.random.split(key, 3)
    batch = real.shape[0]
    rec = self._reconstruct(generator_params, real, rec_key, networks,
                             context.axis_name)
    samples = networks.generate(generator_params, sample_key, batch)
    rec, samples = jax.lax.stop_gradient((rec, samples))
    inputs = jnp.concatenate(
        [real, rec.reconstructions.reshape((-1,) + real.shape[1:]), samples])
    logits, _ = self._synthetic_logits(
        discriminator_params, method_state, inputs, update_stats=False)
    real_logits = logits[:batch]
    rec_logits = logits[batch:-batch]
    sample_logits = logits[-batch:]
    # Reconstructions and prior samples share the generated side equally, so
    # real and generated weigh the same: with a 1:2 weighting a Lipschitz-1
    # D_I on 2-D mixtures settled on the constant -1 (every generated hinge
    # satisfied) and G got no gradient (measured on the ring).
    hinge = (jnp.mean(jax.nn.relu(1.0 - real_logits))
             + 0.5 * jnp.mean(jax.nn.relu(1.0 + rec_logits))
             + 0.5 * jnp.mean(jax.nn.relu(1.0 + sample_logits)))

    classifier = self.latent_classifier().apply
    prior_logits = classifier(
        discriminator_params["latent_classifier"],
        networks.sample_noise(prior_key, batch))
    encoded_logits = classifier(
        discriminator_params["latent_classifier"],
        rec.latents.reshape(-1, rec.latents.shape[-1]))
    classifier_loss = losses.discriminator_loss(prior_logits, encoded_logits)
    metrics = {
        "d_hinge_loss": hinge,
        "d_real_score": jnp.mean(real_logits),
        "d_fake_score": jnp.mean(jnp.concatenate([rec_logits, sample_logits])),
        "latent_classifier_loss": classifier_loss,
    }
    return hinge + classifier_loss, metrics

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    rec_key, sample_key = jax.random.split(key)
    batch = real.shape[0]
    rec = self._reconstruct(generator_params, real, rec_key, networks,
                             context.axis_name)
    best = best_of_many(reconstruction_errors(
        real, rec.reconstructions, kind=self.reconstruction))
    reconstruction = jnp.mean(best.error)

    samples = networks.generate(generator_params, sample_key, batch)
    logits, new_state = self._synthetic_logits(
        discriminator_params, method_state,
        jnp.concatenate(
            [rec.reconstructions.reshape((-1,) + real.shape[1:]), samples]),
        update_stats=True)
    rec_logits = logits[:-batch].reshape(self.num_samples, batch)
    # The least realistic of the T reconstructions, and the prior samples.
    synthetic = (-jnp.mean(jnp.min(rec_logits, axis=0))
                 - jnp.mean(logits[-batch:]))

    encoded_logits = self.latent_classifier().apply(
        discriminator_params["latent_classifier"],
        rec.latents.reshape(-1, rec.latents.shape[-1]))
    prior = -jnp.mean(encoded_logits)

    loss = (self.reconstruction_weight * reconstruction
            + self.synthetic_weight * synthetic
            + self.prior_weight * prior)
    metrics = {
        "reconstruction_loss": reconstruction,
        "synthetic_loss": synthetic,
        "prior_loss": prior,
    }
    return loss, (metrics, jax.lax.stop_gradient(new_state))
