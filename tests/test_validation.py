"""Config validation: every rule names the field, the value and what is allowed."""

import pytest

from experiments.configs import image_sets
from experiments.configs import mixtures
from experiments import registry
from experiments import validation


def _validate_mog(config):
  validation.validate(config, datasets=mixtures.CONFIGS,
                      methods=registry.METHODS)


@pytest.mark.parametrize("name", mixtures.CONFIGS)
def test_mixture_defaults_pass(name):
  _validate_mog(mixtures.get_config(name))


@pytest.mark.parametrize("name", image_sets.CONFIGS)
def test_image_defaults_pass(name):
  validation.validate(image_sets.get_config(name),
                      datasets=image_sets.CONFIGS,
                      methods=registry.METHODS)


def _set(config, field, value):
  *parents, last = field.split(".")
  node = config
  for part in parents:
    node = node[part]
  with node.ignore_type():
    node[last] = value


# (field, a value the rule refuses, words of its message)
_BAD = [
    ("seed", -1, "integer >= 0"),
    ("num_steps", 0, "integer >= 1"),
    ("batch_size", 0, "integer >= 1"),
    ("batch_size", -8, "integer >= 1"),
    ("batch_size", 2.5, "integer"),
    ("noise_dim", 0, ">= 1"),
    ("generator_hidden", (), "non-empty list"),
    ("discriminator_hidden", (128, 0), "integers >= 1"),
    ("discriminator_steps", 0, ">= 1"),
    ("optimizer.generator_lr", 0.0, "> 0.0"),
    ("optimizer.discriminator_lr", -1e-4, "> 0.0"),
    ("optimizer.generator_lr", float("nan"), "finite"),
    ("optimizer.b1", 1.0, "< 1.0"),
    ("optimizer.b2", -0.1, ">= 0.0"),
    ("optimizer.decay", "linear", "'cosine', 'constant'"),
    ("optimizer.final_fraction", 1.5, "<= 1.0"),
    ("autoencoder.latent_dim", 0, ">= 1"),
    ("autoencoder.hidden", 0, ">= 1"),
    ("autoencoder.steps", 0, ">= 1"),
    ("autoencoder.batch_size", 0, ">= 1"),
    ("autoencoder.learning_rate", 0.0, "> 0.0"),
    ("autoencoder.max_relative_mse", 0.0, "> 0.0"),
    ("diw.alpha", -1.0, ">= 0.0"),
    ("diw.history", 0, ">= 1"),
    ("diw.anchor_bandwidth", 0.0, "'scott', 'silverman' or a number > 0"),
    ("diw.generator_bandwidth", "wide", "'scott', 'silverman'"),
    ("diw.distance", "manhattan", "'euclidean', 'sqeuclidean'"),
    ("diw.matcher", "sinkhorn", "'auction', 'hungarian', 'scipy'"),
    ("diw.use_generator_weights", 1, "True or False"),
    ("diw.generator_weight_exponent", 0.0, "> 0.0"),
    ("diw.target_weight_clip", (2.0, 1.0), "0 <= low < high"),
    ("diw.auction_eps_final", 1.0, "< 1.0"),
    ("methods.unrolled.unroll_steps", -1, ">= 0"),
    ("methods.unrolled.objective", "wasserstein", "'nonsaturating'"),
    ("methods.veegan.reconstructor_noise_std", 0.0, "> 0.0"),
    ("methods.pacgan.pack_size", 0, ">= 1"),
    ("methods.gne.weight", -1.0, ">= 0.0"),
    ("methods.bms_vae_gan.num_samples", 0, ">= 1"),
    ("methods.bms_vae_gan.reconstruction", "l3", "'l1', 'l2'"),
    ("eval.every", 0, ">= 1"),
    ("eval.every", 150, "multiple of config.log_every=100"),
    ("eval.num_samples", 0, ">= 1"),
    ("eval.hq_std", 0.0, "> 0.0"),
    ("eval.strict_threshold", 0, ">= 1"),
    ("eval.quality_hqs", 1.5, "<= 1.0"),
    ("log_every", 0, ">= 1"),
    ("checkpoint_every", 250, "multiple of config.log_every=100"),
    ("checkpoints_to_keep", 0, ">= 1"),
    ("num_devices", -1, ">= 0"),
    ("num_devices", 4096, "at most the"),
    ("num_seeds", 0, ">= 1"),
    ("dataset", "spiral", "'ring', 'grid', 'random_grid', 'cube'"),
    ("method", "vae", "'gan'"),
]


@pytest.mark.parametrize("field,value,allowed", _BAD,
                         ids=[f"{f}={v!r}" for f, v, _ in _BAD])
def test_rule_names_field_value_and_allowed(field, value, allowed):
  config = mixtures.get_config("ring")
  _set(config, field, value)
  with pytest.raises(validation.ConfigError) as error:
    _validate_mog(config)
  assert error.value.field == field
  assert str(error.value).startswith(f"config.{field}={value!r}: ")
  assert allowed in str(error.value)


def test_pacgan_batch_must_split_into_packs():
  config = mixtures.get_config("ring")
  config.method = "pacgan"
  config.batch_size = 510
  with pytest.raises(validation.ConfigError, match="pack_size=4"):
    _validate_mog(config)
  config.method = "gan"  # Other methods take any batch.
  _validate_mog(config)


def test_population_statistics_need_batch_norm_in_g():
  config = mixtures.get_config("grid")
  config.eval.population_statistics = 20
  with pytest.raises(validation.ConfigError,
                     match="generator_batch_norm=True") as error:
    _validate_mog(config)
  assert error.value.field == "eval.population_statistics"
  config.generator_batch_norm = True
  _validate_mog(config)


def test_image_rules():
  config = image_sets.get_config("stacked_digits")
  config.eval.classifier.min_accuracy = 2.0
  with pytest.raises(validation.ConfigError,
                     match=r"config.eval.classifier.min_accuracy=2.0"):
    validation.validate(config, datasets=image_sets.CONFIGS,
                        methods=registry.METHODS)


@pytest.mark.parametrize("field", [
    "methods.veegan.reconstructor_width",
    "methods.veegan.reconstructor_kernel_size",
    "methods.bms_vae_gan.encoder_width",
    "methods.bms_vae_gan.encoder_kernel_size",
])
def test_image_method_networks_are_checked(field):
  config = image_sets.get_config("digits")
  validation.validate(config, datasets=image_sets.CONFIGS,
                      methods=registry.METHODS)
  _set(config, field, 0)
  with pytest.raises(validation.ConfigError) as error:
    validation.validate(config, datasets=image_sets.CONFIGS,
                        methods=registry.METHODS)
  assert error.value.field == field
  assert "integer >= 1" in str(error.value)
