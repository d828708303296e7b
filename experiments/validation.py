"""Checks a run's config before any work, one rule per field.

`validate(config, ...)` raises `ConfigError` naming the field, its value and
what is allowed, e.g.

  config.batch_size=0: must be an integer >= 1

so a bad command line fails in a second, not after the auto-encoder has
trained. Rules apply to the fields a config has: the mixture and image
configs share most of them. The command line prints the message as one line
(`experiments.cli`).
"""

import math
import numbers
from typing import Any, Callable, Iterable, Sequence, Tuple

import jax
import ml_collections

from diwgan import assignment
from diwgan import distances
from diwgan.methods import bms_vae_gan
from diwgan.methods import unrolled
from experiments import tensorboard


class ConfigError(ValueError):
  """A config field has a value that is not allowed."""

  def __init__(self, field: str, value: Any, allowed: str):
    self.field, self.value, self.allowed = field, value, allowed
    super().__init__(f"config.{field}={value!r}: {allowed}")


def _int(low: int = None) -> Tuple[Callable[[Any], bool], str]:
  def check(value):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and (low is None or value >= low))
  return check, ("must be an integer" + ("" if low is None else f" >= {low}"))


def _number(low: float = None, high: float = None, *, open_low=False,
            open_high=False) -> Tuple[Callable[[Any], bool], str]:
  def check(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      return False
    if not math.isfinite(value):
      return False
    if low is not None and (value <= low if open_low else value < low):
      return False
    if high is not None and (value >= high if open_high else value > high):
      return False
    return True
  parts = []
  if low is not None:
    parts.append(f"{'>' if open_low else '>='} {low}")
  if high is not None:
    parts.append(f"{'<' if open_high else '<='} {high}")
  return check, "must be a finite number" + (
      " " + " and ".join(parts) if parts else "")


def _choice(options: Iterable[str]) -> Tuple[Callable[[Any], bool], str]:
  options = tuple(options)
  return (lambda value: value in options,
          "must be one of " + ", ".join(repr(o) for o in options))


def _bool() -> Tuple[Callable[[Any], bool], str]:
  return (lambda value: isinstance(value, bool), "must be True or False")


def _layers() -> Tuple[Callable[[Any], bool], str]:
  def check(value):
    return (isinstance(value, (tuple, list)) and len(value) > 0 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in value))
  return check, "must be a non-empty list of integers >= 1 (layer widths)"


def _bandwidth() -> Tuple[Callable[[Any], bool], str]:
  def check(value):
    if isinstance(value, str):
      return value in ("scott", "silverman")
    return _number(0.0, open_low=True)[0](value)
  return check, "must be 'scott', 'silverman' or a number > 0"


def _clip() -> Tuple[Callable[[Any], bool], str]:
  def check(value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
      return False
    low, high = value
    if not all(_number()[0](v) for v in value):
      return False
    return (low, high) == (0.0, 0.0) or 0.0 <= low < high
  return check, "must be (low, high) with 0 <= low < high, or (0, 0) for none"


# (dotted field, (check, what is allowed)); a rule applies if the field exists.
RULES: Sequence[Tuple[str, Tuple[Callable[[Any], bool], str]]] = (
    ("seed", _int(0)),
    ("num_steps", _int(1)),
    ("batch_size", _int(1)),
    ("noise_dim", _int(1)),
    ("generator_hidden", _layers()),
    ("discriminator_hidden", _layers()),
    ("discriminator_steps", _int(1)),
    ("generator_batch_norm", _bool()),
    ("discriminator_maxout", _int(1)),
    ("init_std", _number(0.0)),
    ("simultaneous_updates", _bool()),
    ("shared_draws", _bool()),
    ("generator.width", _int(1)),
    ("generator.kernel_size", _int(1)),
    ("discriminator.width", _int(1)),
    ("discriminator.kernel_size", _int(1)),
    ("optimizer.generator_lr", _number(0.0, open_low=True)),
    ("optimizer.discriminator_lr", _number(0.0, open_low=True)),
    ("optimizer.b1", _number(0.0, 1.0, open_high=True)),
    ("optimizer.b2", _number(0.0, 1.0, open_high=True)),
    ("optimizer.decay", _choice(("cosine", "constant"))),
    ("optimizer.final_fraction", _number(0.0, 1.0)),
    ("autoencoder.latent_dim", _int(1)),
    ("autoencoder.hidden", _int(1)),
    ("autoencoder.width", _int(1)),
    ("autoencoder.kernel_size", _int(1)),
    ("autoencoder.steps", _int(1)),
    ("autoencoder.batch_size", _int(1)),
    ("autoencoder.learning_rate", _number(0.0, open_low=True)),
    ("autoencoder.max_relative_mse", _number(0.0, open_low=True)),
    ("diw.alpha", _number(0.0)),
    ("diw.history", _int(1)),
    ("diw.anchor_bandwidth", _bandwidth()),
    ("diw.generator_bandwidth", _bandwidth()),
    ("diw.distance", _choice(distances.DISTANCE_KINDS)),
    ("diw.matcher", _choice(assignment.METHODS)),
    ("diw.use_generator_weights", _bool()),
    ("diw.use_target_weights", _bool()),
    ("diw.random_matching", _bool()),
    ("diw.generator_weight_exponent", _number(0.0, open_low=True)),
    ("diw.target_weight_exponent", _number(0.0, open_low=True)),
    ("diw.generator_weight_clip", _clip()),
    ("diw.target_weight_clip", _clip()),
    ("diw.auction_eps_final", _number(0.0, 1.0, open_high=True)),
    # K = 0 is the plain GAN step (`UnrolledGAN` allows it).
    ("methods.unrolled.unroll_steps", _int(0)),
    ("methods.unrolled.objective", _choice(unrolled.OBJECTIVES)),
    ("methods.veegan.reconstruction_weight", _number(0.0)),
    ("methods.veegan.reconstructor_hidden", _layers()),
    ("methods.veegan.reconstructor_noise_std", _number(0.0, open_low=True)),
    # Images: F's convolutions (`experiments.configs.image_sets`).
    ("methods.veegan.reconstructor_width", _int(1)),
    ("methods.veegan.reconstructor_kernel_size", _int(1)),
    ("methods.pacgan.pack_size", _int(1)),
    ("methods.gne.weight", _number(0.0)),
    ("methods.bms_vae_gan.num_samples", _int(1)),
    ("methods.bms_vae_gan.reconstruction_weight", _number(0.0)),
    ("methods.bms_vae_gan.synthetic_weight", _number(0.0)),
    ("methods.bms_vae_gan.prior_weight", _number(0.0)),
    ("methods.bms_vae_gan.reconstruction",
     _choice(bms_vae_gan.RECONSTRUCTION_KINDS)),
    ("methods.bms_vae_gan.encoder_hidden", _layers()),
    ("methods.bms_vae_gan.spectral_norm", _bool()),
    # Images: the encoder's convolutions.
    ("methods.bms_vae_gan.encoder_width", _int(1)),
    ("methods.bms_vae_gan.encoder_kernel_size", _int(1)),
    ("methods.bms_vae_gan.latent_classifier_hidden", _layers()),
    ("methods.diwgan_poster.loss_weight", _number(0.0)),
    ("eval.every", _int(1)),
    ("eval.num_samples", _int(1)),
    ("eval.hq_std", _number(0.0, open_low=True)),
    ("eval.strict_threshold", _int(1)),
    ("eval.quality_hqs", _number(0.0, 1.0)),
    ("eval.population_statistics", _int(0)),
    ("eval.chunk", _int(1)),
    ("eval.grid_side", _int(1)),
    ("eval.classifier.steps", _int(1)),
    ("eval.classifier.batch_size", _int(1)),
    ("eval.classifier.learning_rate", _number(0.0, open_low=True)),
    ("eval.classifier.min_accuracy", _number(0.0, 1.0)),
    ("log_every", _int(1)),
    ("checkpoint_every", _int(1)),
    ("checkpoints_to_keep", _int(1)),
    ("num_devices", _int(0)),
    ("num_seeds", _int(1)),
    ("tensorboard", _bool()),
    ("parallelism", _choice(("batch", "seeds"))),
)


def _get(config: ml_collections.ConfigDict, field: str) -> Tuple[bool, Any]:
  node = config
  for part in field.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return False, None
    node = node[part]
  return True, node


def validate(
    config: ml_collections.ConfigDict,
    *,
    datasets: Sequence[str],
    methods: Sequence[str],
) -> None:
  """Raises `ConfigError` for the first field whose value is not allowed.

  Args:
    config: a mixture or image config.
    datasets: the valid `config.dataset` names.
    methods: the valid `config.method` names.

  Raises:
    ConfigError: naming the field, the value and what is allowed.

  Example:
    >>> from experiments.configs import mixtures
    >>> config = mixtures.get_config("ring")
    >>> config.batch_size = 0
    >>> validate(config, datasets=["ring"], methods=["diwgan"])
    Traceback (most recent call last):
    ...
    experiments.validation.ConfigError: config.batch_size=0: must be an integer >= 1
  """
  for field, allowed_names in (("dataset", datasets), ("method", methods)):
    check, allowed = _choice(allowed_names)
    if not check(config[field]):
      raise ConfigError(field, config[field], allowed)
  validate_fields(config)


def validate_fields(config: ml_collections.ConfigDict) -> None:
  """The rules of every field but the data set and method names.

  Raises:
    ConfigError: naming the field, the value and what is allowed.
  """
  for field, (check, allowed) in RULES:
    present, value = _get(config, field)
    if present and not check(value):
      raise ConfigError(field, value, allowed)
  for field in ("eval.every", "checkpoint_every"):
    _, value = _get(config, field)
    if value % config.log_every:
      raise ConfigError(
          field, value,
          f"must be a multiple of config.log_every={config.log_every} (the "
          "loop evaluates and saves between compiled chunks)")
  if config.method == "pacgan":
    pack = config.methods.pacgan.pack_size
    if config.batch_size % pack:
      raise ConfigError(
          "batch_size", config.batch_size,
          f"must be a multiple of config.methods.pacgan.pack_size={pack} "
          "(PacGAN packs the batch)")
  if (config.get("eval", {}).get("population_statistics", 0)
      and not config.get("generator_batch_norm", False)):
    raise ConfigError(
        "eval.population_statistics", config.eval.population_statistics,
        "must be 0 unless config.generator_batch_norm=True (G has no batch "
        "norm to evaluate in inference mode)")
  if config.get("tensorboard", False) and not tensorboard.available():
    raise ConfigError(
        "tensorboard", True,
        "needs the tensorboardX package: pip install -e \".[tensorboard]\"")
  available = jax.device_count()
  devices = config.get("num_devices", 0) or available
  if devices > available:
    raise ConfigError(
        "num_devices", devices,
        f"must be 0 (all) or at most the {available} "
        f"{jax.default_backend()} device(s) available")
  if config.get("parallelism", "batch") == "seeds" and devices > 1:
    if config.num_seeds % devices:
      raise ConfigError(
          "num_seeds", config.num_seeds,
          f"must be a multiple of the {devices} devices the seeds are split "
          "over (parallelism='seeds'); pick num_devices to divide it")
  elif config.batch_size % devices:
    raise ConfigError(
        "batch_size", config.batch_size,
        f"must be a multiple of the {devices} devices it is split over")
