"""Builds the `training.Method` named by `config.method`.

Methods (docs/method.md and docs/baselines.md):

| name | what | hyper-parameters |
| --- | --- | --- |
| `gan` | non-saturating GAN | - |
| `unrolled` | Unrolled GAN, K differentiable D updates | `config.methods.unrolled` |
| `veegan` | reconstructor F, D on (z, x) pairs | `config.methods.veegan` |
| `pacgan` | D on packs of m samples | `config.methods.pacgan` |
| `gne` | GAN + KL between t-similarities of z and of G(z) | `config.methods.gne` |
| `bms_vae_gan` | best-of-T VAE-GAN, SN synthetic likelihood | `config.methods.bms_vae_gan` |
| `diwgan` | DIW-GAN (euclidean, both weights) | `config.diw` |
| `diwgan_poster` | squared distance, term weighted by W_l | `config.diw`, `config.methods.diwgan_poster` |
| `diwgan_noweights` | matched distance only (no w_g, no w_r) | `config.diw` |
| `diwgan_wg` | generator weight w_g only | `config.diw` |
| `diwgan_wr` | target weight w_r only | `config.diw` |
| `diwgan_random_match` | random instead of optimal pairing | `config.diw` |

The DIW-GAN variants are `methods.DIWGAN` field settings (`DIW_VARIANTS`);
everything else in `config.diw` applies to all of them. `make_method` reads
either config family: the mixtures' MLP fields
(`experiments/configs/mixtures.py`) or the image sets' convolutional ones
(`experiments/configs/image_sets.py`; docs/baselines.md, "Image sets").
"""

from typing import Any, Callable, Dict, Optional, Tuple

import jax
import ml_collections
import optax

from diwgan import methods
from diwgan import models
from diwgan import training

# Field settings of `methods.DIWGAN` that define each DIW-GAN variant, on top
# of `config.diw`. The poster's W_l is set from its own sub-config below.
DIW_VARIANTS: Dict[str, Dict[str, Any]] = {
    "diwgan": {},
    "diwgan_poster": {"distance": "sqeuclidean"},
    "diwgan_noweights": {
        "use_generator_weights": False, "use_target_weights": False},
    "diwgan_wg": {"use_generator_weights": True, "use_target_weights": False},
    "diwgan_wr": {"use_generator_weights": False, "use_target_weights": True},
    "diwgan_random_match": {"random_matching": True},
}
# (generator lr, discriminator lr) per method, chosen by the grid of
# docs/baselines.md ("Tuning protocol": ring, seed 0, 4000 steps, lowest
# JSD); `experiments.compare` applies them before its --config overrides.
# Methods absent here (the DIW-GAN variants) use `config.optimizer`.
LEARNING_RATES: Dict[str, Tuple[float, float]] = {
    "gan": (1e-4, 1e-3),
    "unrolled": (1e-3, 1e-3),
    "veegan": (1e-3, 1e-3),
    "pacgan": (1e-3, 1e-3),
    "gne": (1e-4, 1e-3),
    "bms_vae_gan": (1e-4, 1e-3),
}
LEARNING_RATE_GRID: Tuple[Tuple[float, float], ...] = (
    (1e-3, 1e-4), (1e-3, 1e-3), (1e-4, 1e-4), (1e-4, 1e-3))
# The image sets' grid: the same four crossed pairs with DCGAN's 2e-4 (the
# image config's own rate for both players) in place of 1e-4, so the rates
# every image table ran at before tuning are one of its points.
IMAGE_LEARNING_RATE_GRID: Tuple[Tuple[float, float], ...] = (
    (1e-3, 2e-4), (1e-3, 1e-3), (2e-4, 2e-4), (2e-4, 1e-3))
# The same grid run on each data set with the same budget (seed 0, lowest
# JSD; at the set's full length or at the 4,000-step proxy, as
# `PER_SET_TUNING_RUNS` says; docs/baselines.md, "Tuning protocol"),
# DIW-GAN included:
# {data set: {method: (generator lr, discriminator lr)}}. Applied by
# `experiments.compare --learning_rates=per_set`; a data set or method
# absent here falls back to `LEARNING_RATES`.
# DIW-GAN's pick on every set tuned, and on the ring: the config's defaults.
_DIWGAN_RATES = (1e-3, 1e-4)
PER_SET_LEARNING_RATES: Dict[str, Dict[str, Tuple[float, float]]] = {
    # Each set: the ring's picks where its own agree, then the ones that
    # differ (from the tuning.md of the set's `PER_SET_TUNING_RUNS`). The
    # ring's own entry is its full-length tuning; `LEARNING_RATES` stay the
    # 4,000-step picks Table 1 ran at.
    "ring": {**LEARNING_RATES, "diwgan": _DIWGAN_RATES,
             "bms_vae_gan": (1e-3, 1e-3)},
    "grid": {**LEARNING_RATES, "diwgan": _DIWGAN_RATES,
             "gan": (1e-3, 1e-3), "unrolled": (1e-3, 1e-4),
             "gne": (1e-3, 1e-3)},
    "random_grid": {**LEARNING_RATES, "diwgan": _DIWGAN_RATES,
                    "gan": (1e-3, 1e-3), "unrolled": (1e-3, 1e-4),
                    "pacgan": (1e-3, 1e-4), "gne": (1e-3, 1e-3)},
    "cube": {**LEARNING_RATES, "diwgan": _DIWGAN_RATES,
             "gan": (1e-3, 1e-3), "unrolled": (1e-3, 1e-4),
             "bms_vae_gan": (1e-3, 1e-4)},
    # The image set's own grid (IMAGE_LEARNING_RATE_GRID) at its full
    # 1,500 steps: every method, the DIW-GAN variants included.
    "stacked_digits": {**{m: (1e-3, 1e-3) for m in (
        "gan", "unrolled", "veegan", "pacgan", "gne", "diwgan",
        "diwgan_noweights")}, "bms_vae_gan": (1e-3, 2e-4)},
    # The same grid and budget on digits (its full 1,500 steps).
    "digits": {"gan": (2e-4, 2e-4), "unrolled": (2e-4, 2e-4),
               "veegan": (1e-3, 2e-4), "pacgan": (2e-4, 1e-3),
               "gne": (1e-3, 2e-4), "bms_vae_gan": (1e-3, 2e-4),
               "diwgan": (1e-3, 2e-4), "diwgan_noweights": (1e-3, 2e-4)},
}
# The committed tuning runs each set's picks come from (folders under the
# repository root, steps per run): the 4,000-step proxy where the set has
# been tuned with it only, the set's full length where it has been tuned
# at full length (docs/baselines.md, "Per data set"). A set's grid may span
# several folders (methods tuned in separate sittings, same grid, seed and
# steps); each method's points are in one of them.
PER_SET_TUNING_RUNS: Dict[str, Tuple[Tuple[str, ...], int]] = {
    "ring": (("docs/results/tuning_ring_10000",
              "docs/results/tuning_ring_10000_ub"), 10000),
    "grid": (("docs/results/tuning_grid_20000",
              "docs/results/tuning_grid_20000_bms"), 20000),
    "random_grid": (("docs/results/tuning_random_grid_20000",), 20000),
    "cube": (("docs/results/tuning_cube_10000",), 10000),
    "stacked_digits": (("docs/results/tuning_stacked_digits_1500",), 1500),
    "digits": (("docs/results/tuning_digits_1500",), 1500),
}


def rate_label(value: float) -> str:
  """A learning rate as the tuning files name it.

  Example:
    >>> rate_label(1e-4)
    '1e-4'
  """
  return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def rate_pair_label(generator_lr: float, discriminator_lr: float) -> str:
  """A (generator lr, discriminator lr) pair as the tuning tables show it.

  Example:
    >>> rate_pair_label(1e-3, 1e-4)
    'G 1e-3 / D 1e-4'
  """
  return f"G {rate_label(generator_lr)} / D {rate_label(discriminator_lr)}"


def grid_point_name(generator_lr: float, discriminator_lr: float) -> str:
  """The name of a learning-rate grid point's tuning file (no suffix).

  Example:
    >>> grid_point_name(1e-3, 1e-4)
    'g1e-3_d1e-4'
  """
  return f"g{rate_label(generator_lr)}_d{rate_label(discriminator_lr)}"
# Methods that match in the latent space of a pre-trained auto-encoder.
AUTOENCODER_METHODS = tuple(DIW_VARIANTS)
BASELINES = ("gan", "unrolled", "veegan", "pacgan", "gne", "bms_vae_gan")
METHODS = BASELINES + AUTOENCODER_METHODS


def needs_autoencoder(name: str) -> bool:
  return name in AUTOENCODER_METHODS


def tuned_learning_rates(
    dataset: str, method: str, *, per_set: bool = False
) -> Optional[Tuple[float, float]]:
  """The tuned (generator lr, discriminator lr) of `method`, or None.

  With `per_set`, the pick of the grid on `dataset` itself
  (`PER_SET_LEARNING_RATES`) where there is one; otherwise, and for sets
  not tuned on their own, the ring's (`LEARNING_RATES`). None: the method
  keeps `config.optimizer`.

  Example:
    >>> tuned_learning_rates("grid", "gan")
    (0.0001, 0.001)
    >>> tuned_learning_rates("ring", "diwgan") is None
    True
  """
  if per_set and method in PER_SET_LEARNING_RATES.get(dataset, {}):
    return PER_SET_LEARNING_RATES[dataset][method]
  return LEARNING_RATES.get(method)


def _clip(value) -> Optional[tuple]:
  low, high = value
  return None if (low, high) == (0.0, 0.0) else (float(low), float(high))


def _diw_method(name, config, encode):
  diw = config.diw
  fields = dict(
      encode=encode,
      alpha=diw.alpha,
      distance=diw.distance,
      matcher=diw.matcher,
      random_matching=diw.random_matching,
      use_generator_weights=diw.use_generator_weights,
      use_target_weights=diw.use_target_weights,
      generator_bandwidth=diw.generator_bandwidth,
      generator_weight_exponent=diw.generator_weight_exponent,
      target_weight_exponent=diw.target_weight_exponent,
      generator_weight_clip=_clip(diw.generator_weight_clip),
      target_weight_clip=_clip(diw.target_weight_clip),
      auction_options=(
          {"eps_final": float(diw.auction_eps_final)}
          if diw.get("auction_eps_final", 0.0) > 0 else {}),
      name=name,
  )
  fields.update(DIW_VARIANTS[name])
  if name == "diwgan_poster":
    # Poster eq. (1): the matched squared distance times W_l, no alpha.
    fields["alpha"] = config.methods.diwgan_poster.loss_weight
  return methods.DIWGAN(**fields)


def unroll_optimizer(
    config: ml_collections.ConfigDict, *, eps_root: float = 1e-16
) -> optax.GradientTransformation:
  """The discriminator's optimizer, as the unroll of `unrolled` replays it.

  The schedule and Adam settings of `training.make_optimizer` for the
  discriminator (its clock: generator steps, the unroll state's count), plus
  `eps_root` inside Adam's square root: differentiating through
  `sqrt(nu)` at `nu = 0` (a parameter whose gradient is still zero) gives
  0 * inf = NaN; optax's documented fix for meta-gradients through Adam.
  1e-16 = eps^2 leaves the updates unchanged in float32.
  """
  opt = config.optimizer
  return training.make_optimizer(
      opt.discriminator_lr, num_steps=config.num_steps, b1=opt.b1, b2=opt.b2,
      decay=opt.decay, final_fraction=opt.final_fraction, eps_root=eps_root)


def _is_image_config(config: ml_collections.ConfigDict) -> bool:
  """An image set's config (conv networks), not a mixture's (MLPs)."""
  return "discriminator" in config and "generator" in config


def _veegan(config, patches):
  veegan = config.methods.veegan
  fields = dict(
      reconstruction_weight=veegan.reconstruction_weight,
      reconstructor_noise_std=veegan.reconstructor_noise_std)
  if not _is_image_config(config):
    return methods.VEEGAN(
        reconstructor_hidden=tuple(veegan.reconstructor_hidden), **fields)
  # F: the discriminator's convolutions with a noise-sized dense output.
  return methods.VEEGAN(
      reconstructor_network=models.ConvDiscriminator(
          width=veegan.reconstructor_width,
          kernel_size=veegan.reconstructor_kernel_size, patches=patches,
          out_dim=config.noise_dim),
      **fields)


def _bms_vae_gan(config, patches):
  bms = config.methods.bms_vae_gan
  fields = dict(
      num_samples=bms.num_samples,
      reconstruction_weight=bms.reconstruction_weight,
      synthetic_weight=bms.synthetic_weight,
      prior_weight=bms.prior_weight,
      reconstruction=bms.reconstruction,
      latent_classifier_hidden=tuple(bms.latent_classifier_hidden))
  if not _is_image_config(config):
    return methods.BMSVAEGAN(
        encoder_hidden=tuple(bms.encoder_hidden),
        discriminator_hidden=tuple(config.discriminator_hidden),
        spectral_norm=bms.spectral_norm, **fields)
  # q(z|x): convolutions to (mean, log-variance); D_I: the run's
  # discriminator, spectrally normalised unless `spectral_norm` is False.
  return methods.BMSVAEGAN(
      encoder_network=models.ConvDiscriminator(
          width=bms.encoder_width, kernel_size=bms.encoder_kernel_size,
          patches=patches, out_dim=2 * config.noise_dim),
      synthetic_discriminator_network=models.ConvDiscriminator(
          width=config.discriminator.width,
          kernel_size=config.discriminator.kernel_size, patches=patches,
          spectral_norm=bms.spectral_norm),
      **fields)


def make_method(
    config: ml_collections.ConfigDict,
    encode: Optional[Callable[[Any, Any], Any]] = None,
    *,
    patches: bool = False,
) -> training.Method:
  """The method of `config.method`, from a mixture or an image config.

  Args:
    config: a mixture or an image config.
    encode: the frozen encoder's apply (the DIW-GAN variants).
    patches: how the image methods' extra convolutions are computed
      (`experiments.images.use_patches`); unused for mixtures.

  Returns:
    The `training.Method`.

  Raises:
    ValueError: for an unknown method; the message lists the valid ones.
  """
  name = config.method
  if name not in METHODS:
    raise ValueError(
        f"Unknown method {name!r}; valid methods: {', '.join(METHODS)}."
    )
  if name in DIW_VARIANTS:
    return _diw_method(name, config, encode)
  if name == "gan":
    return methods.DIWGAN(matching=False, name="gan")
  if name == "unrolled":
    unrolled = config.methods.unrolled
    return methods.UnrolledGAN(
        optimizer=unroll_optimizer(config),
        unroll_steps=unrolled.unroll_steps,
        objective=unrolled.objective)
  if name == "veegan":
    return _veegan(config, patches)
  if name == "pacgan":
    return methods.PacGAN(pack_size=config.methods.pacgan.pack_size)
  if name == "gne":
    return methods.GNE(weight=config.methods.gne.weight)
  return _bms_vae_gan(config, patches)


def init_method_state(
    method: training.Method,
    key: jax.Array,
    networks: training.Networks,
    real_example: jax.Array,
) -> Any:
  """The initial `method_state` of a method that needs no auto-encoder.

  A method with persistent state of its own (Unrolled GAN's optimizer
  state, BMS-VAE-GAN's power-iteration vectors) defines
  `init_state(key, networks, real_example)`; the others get `()`. The result
  depends only on shapes and `key`, so it also serves as the checkpoint
  template.
  """
  init_state = getattr(method, "init_state", None)
  if init_state is None:
    return ()
  return init_state(key, networks, real_example)
