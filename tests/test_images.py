"""Image sets, conv nets, mode metrics, digit classifier and image training.

Offline: the 8x8 digits ship with scikit-learn. The TFDS path is in
test_images_tfds.py (skipped where tensorflow-datasets is not installed);
its reading logic is covered here through `read_examples`.
"""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diwgan import autoencoder as autoencoder_lib
from diwgan.data import images as image_data
from diwgan.metrics import images as image_metrics
from diwgan import models
from diwgan.models import conv
from experiments.configs import image_sets
from experiments import images as image_experiment
import step_checks  # tests/ is on sys.path (pytest's rootdir-relative import)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
  return image_data.load_digits("all")


# --- data -------------------------------------------------------------------


def test_digits_shapes_and_range(digits):
  assert digits.images.shape == (1797, 8, 8, 1)
  assert digits.images.dtype == jnp.uint8
  assert int(digits.images.max()) == 16 and int(digits.images.min()) == 0
  np.testing.assert_array_equal(np.unique(digits.labels), np.arange(10))
  train, test = (image_data.load_digits(s) for s in ("train", "test"))
  assert train.labels.shape[0] + test.labels.shape[0] == 1797
  assert test.labels.shape[0] == 359
  batch = image_data.sample_batch(digits, jax.random.key(0), 32, stacked=False)
  assert batch.images.shape == (32, 8, 8, 1)
  assert batch.images.dtype == jnp.float32
  assert float(batch.images.min()) >= -1.0 and float(batch.images.max()) <= 1.0
  assert batch.labels.shape == (32,)


def test_stacked_digits_are_built_on_the_fly_from_three_indices(digits):
  key = jax.random.key(3)
  batch = jax.jit(image_data.sample_batch, static_argnums=(2,),
                  static_argnames="stacked")(digits, key, 16, stacked=True)
  assert batch.images.shape == (16, 8, 8, 3)
  assert batch.labels.shape == (16, 3)
  indices = image_data.sample_indices(key, 1797, 16, stacked=True)
  for channel in range(3):
    expected = image_data.to_float(digits.images[indices[:, channel]],
                                   digits.max_value)[..., 0]
    np.testing.assert_allclose(batch.images[..., channel], expected)
    np.testing.assert_array_equal(batch.labels[:, channel],
                                  digits.labels[indices[:, channel]])
  # The channels are independent draws, not copies of one digit.
  assert np.any(indices[:, 0] != indices[:, 1])
  sample = image_data.sample_images(digits, key, 16, stacked=True)
  np.testing.assert_array_equal(sample, batch.images)


def test_read_examples_fills_one_uint8_array():
  # A random-access source like tfds.data_source's: len() and [index].
  source = [{"image": np.full((4, 4, 1), index, np.uint8), "label": index % 10}
            for index in range(11)]
  images, labels = image_data.read_examples(source)
  assert images.shape == (11, 4, 4, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(images[:, 0, 0, 0], np.arange(11))
  np.testing.assert_array_equal(labels, np.arange(11) % 10)
  assert labels.dtype == np.int32
  with pytest.raises(ValueError, match="empty"):
    image_data.read_examples([])


def test_unknown_image_set_lists_valid_ones():
  with pytest.raises(ValueError, match="digits, stacked_digits, mnist"):
    image_data.load("svhn")
  with pytest.raises(ValueError, match="valid configs: digits, stacked_digits"):
    image_sets.get_config("svhn")


# --- models -----------------------------------------------------------------


@pytest.mark.parametrize("height,expected", [(8, 1), (28, 2), (32, 3), (7, 0)])
def test_num_halvings(height, expected):
  assert conv.num_halvings(height) == expected


@pytest.mark.parametrize(
    "shape", [(8, 8, 1), (8, 8, 3), (28, 28, 1), (28, 28, 3), (32, 32, 3)])
def test_conv_model_shapes(shape):
  # Shapes only: eval_shape traces without compiling.
  generator = models.ConvGenerator(shape, width=8, kernel_size=3)
  discriminator = models.ConvDiscriminator(width=8, kernel_size=3)
  autoencoder = models.ConvAutoEncoder(shape, latent_dim=6, width=4, hidden=16,
                                       kernel_size=3)
  noise = jax.ShapeDtypeStruct((2, 5), jnp.float32)
  key = jax.random.key(0)
  g_params = jax.eval_shape(generator.init, key, noise)
  fake = jax.eval_shape(generator.apply, g_params, noise)
  assert fake.shape == (2,) + shape
  d_params = jax.eval_shape(discriminator.init, key, fake)
  assert jax.eval_shape(discriminator.apply, d_params, fake).shape == (2,)
  ae_params = jax.eval_shape(autoencoder.init, key, fake)
  latents = jax.eval_shape(
      lambda p, x: autoencoder.apply(p, x, method=autoencoder.encode),
      ae_params, fake)
  assert latents.shape == (2, 6)
  decoded = jax.eval_shape(
      lambda p, z: autoencoder.apply(p, z, method=autoencoder.decode),
      ae_params, latents)
  assert decoded.shape == (2,) + shape


@pytest.mark.parametrize("stride,padding,dilation,kernel", [
    (1, "SAME", 1, 3), (2, "SAME", 1, 3), (2, "SAME", 1, 5),
    (1, "VALID", 1, 3), (1, ((1, 2), (1, 2)), 2, 3), (2, ((1, 1), (2, 0)), 1, 4),
])
def test_patch_convolution_matches_lax(stride, padding, dilation, kernel):
  x = jax.random.normal(jax.random.key(0), (3, 8, 8, 5))
  w = jax.random.normal(jax.random.key(1), (kernel, kernel, 5, 7))
  numbers = jax.lax.conv_dimension_numbers(x.shape, w.shape,
                                           ("NHWC", "HWIO", "NHWC"))
  kwargs = dict(lhs_dilation=(dilation, dilation), dimension_numbers=numbers,
                precision="highest")
  def value_and_grads(conv_fn):
    def loss(x, w):
      out = conv_fn(x, w, (stride, stride), padding, **kwargs)
      return jnp.sum(out ** 2), out
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        x, w)

  (_, expected), expected_grads = value_and_grads(jax.lax.conv_general_dilated)
  (_, actual), grads = value_and_grads(conv.patch_conv_general_dilated)
  np.testing.assert_allclose(actual, expected, atol=1e-4)
  for grad, expected_grad in zip(grads, expected_grads):
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-3)


def test_patch_and_xla_models_share_parameters():
  shape = (8, 8, 3)
  noise = jnp.ones((2, 4))
  fast = models.ConvGenerator(shape, width=8, kernel_size=3, patches=True)
  plain = models.ConvGenerator(shape, width=8, kernel_size=3)
  params = jax.jit(plain.init)(jax.random.key(0), noise)
  fake = jax.jit(plain.apply)(params, noise)
  np.testing.assert_allclose(jax.jit(fast.apply)(params, noise), fake,
                             atol=1e-5)
  assert float(jnp.max(jnp.abs(fake))) <= 1.0  # tanh output


# --- auto-encoder gate ------------------------------------------------------


def test_conv_autoencoder_passes_gate_on_digits_and_untrained_fails(digits):
  autoencoder = models.ConvAutoEncoder((8, 8, 1), latent_dim=16, width=8,
                                       hidden=64, kernel_size=3, patches=True)

  def sample(key, num):
    return image_data.sample_images(digits, key, num, stacked=False)

  params = autoencoder_lib.train_autoencoder_on_sampler(
      autoencoder, sample, jax.random.key(0), steps=300, batch_size=64,
      learning_rate=3e-3)
  real = image_data.gather(digits, jnp.arange(1797)).images
  report = autoencoder_lib.reconstruction_report(autoencoder, params, real)
  autoencoder_lib.check_quality(report, max_relative_mse=0.5)
  untrained = jax.jit(autoencoder.init)(jax.random.key(1), real[:1])
  with pytest.raises(autoencoder_lib.AutoEncoderQualityError,
                     match="relative to the data variance"):
    autoencoder_lib.check_quality(
        autoencoder_lib.reconstruction_report(autoencoder, untrained, real),
        max_relative_mse=0.5)


# --- metrics ----------------------------------------------------------------


def test_stacked_modes_on_constructed_inputs():
  every_triple = np.stack(np.meshgrid(*[np.arange(10)] * 3, indexing="ij"),
                          -1).reshape(-1, 3)
  result = jax.jit(image_metrics.stacked_modes)(every_triple)
  assert int(result.modes) == 1000
  np.testing.assert_allclose(float(result.kl), 0.0, atol=1e-6)
  np.testing.assert_array_equal(result.histogram, np.ones(1000))

  one_triple = np.tile([[3, 1, 4]], (500, 1))
  result = image_metrics.stacked_modes(one_triple)
  assert int(result.modes) == 1
  np.testing.assert_allclose(float(result.kl), math.log(1000), rtol=1e-6)
  assert int(result.histogram[314]) == 500

  # Two triples, 3:1: KL = sum p log(1000 p).
  two = np.concatenate([np.tile([[0, 0, 1]], (3, 1)), [[9, 9, 9]]])
  result = image_metrics.stacked_modes(two)
  expected = 0.75 * math.log(750) + 0.25 * math.log(250)
  assert int(result.modes) == 2
  np.testing.assert_allclose(float(result.kl), expected, rtol=1e-5)
  with pytest.raises(ValueError, match=r"\(N, 3\)"):
    image_metrics.stacked_modes(np.zeros((4, 2), np.int32))


def test_class_coverage():
  result = image_metrics.class_coverage(np.repeat(np.arange(10), 7))
  assert int(result.modes) == 10
  np.testing.assert_allclose(float(result.kl), 0.0, atol=1e-6)
  result = image_metrics.class_coverage(np.full((30,), 2))
  assert int(result.modes) == 1
  np.testing.assert_allclose(float(result.kl), math.log(10), rtol=1e-6)


def test_classify_labels_each_channel():

  class Argmax:  # "classifier" whose class is the grey image's mean pixel

    def apply(self, params, batch):
      del params
      return jax.nn.one_hot(
          jnp.round(batch.mean(axis=(1, 2, 3))).astype(jnp.int32), 10)

  images = jnp.stack([jnp.full((5, 4, 4), float(c)) for c in (2, 7, 4)], -1)
  labels = image_metrics.classify(Argmax(), None, images, chunk=4)
  np.testing.assert_array_equal(labels, np.tile([2, 7, 4], (5, 1)))
  grey = image_metrics.classify(Argmax(), None, images[..., :1])
  np.testing.assert_array_equal(grey, np.full((5,), 2))


def small_digit_config(tmp_path, method="diwgan"):
  config = image_sets.get_config("stacked_digits")
  config.method = method
  config.batch_size = 32
  config.num_real = 1000
  # Small nets: these tests check the plumbing, so compile time is the cost.
  config.noise_dim = 8
  config.generator.width = 8
  config.discriminator.width = 8
  config.autoencoder.width = 4
  config.autoencoder.hidden = 32
  config.autoencoder.latent_dim = 8
  config.autoencoder.steps = 30
  # A 30-step AE; the gate itself is tested above.
  config.autoencoder.max_relative_mse = 10.0
  config.eval.num_samples = 300
  config.eval.chunk = 100
  config.eval.grid_side = 3
  config.eval.classifier.dir = str(tmp_path / "classifier")
  return config


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  """The digits config's classifier, trained once and cached for this module."""
  directory = tmp_path_factory.mktemp("classifier")
  config = image_sets.get_config("stacked_digits")
  image_experiment.load_or_train_classifier(config, str(directory))
  return directory


def test_classifier_accuracy_on_held_out_digits_and_cache(classifier_dir):
  config = image_sets.get_config("stacked_digits")
  with open(classifier_dir / "digits" / "classifier.json") as f:
    info = json.load(f)
  assert info["test_size"] == 359 and info["train_size"] == 1438
  assert info["test_accuracy"] > 0.95
  # A second call loads the cache (same accuracy, same predictions).
  cached = image_experiment.load_or_train_classifier(config,
                                                     str(classifier_dir))
  assert cached.accuracy == info["test_accuracy"]
  test = image_data.load_digits("test")
  predicted = image_metrics.classify(
      cached.module, cached.params,
      image_data.to_float(test.images, test.max_value))
  assert float(image_metrics.accuracy(predicted, test.labels)) > 0.95


# --- training ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["gan", "diwgan"])
def test_training_steps_on_stacked_digits(tmp_path, classifier_dir, method):
  config = small_digit_config(tmp_path, method)
  config.eval.classifier.dir = str(classifier_dir)
  experiment = image_experiment.build_experiment(config, str(tmp_path))
  _, new_state, metrics = step_checks.train_and_check(experiment, 3)
  assert ("auction_converged" in metrics) == (method == "diwgan")
  if method == "diwgan":
    with open(tmp_path / "anchor_quality.json") as f:
      quality = json.load(f)
    assert 1 <= quality["anchor_modes"] <= config.batch_size
  else:
    assert "diw_term" not in metrics
  # The evaluation's modes and KL against an independent recomputation
  # from the labels the classifier gave (recorded on the way): numpy's
  # count of distinct (c1, c2, c3) triples and KL(p || uniform over 1000).
  seen = []
  classify = image_metrics.classify

  def recording_classify(*args, **kwargs):
    labels = classify(*args, **kwargs)
    seen.append(np.asarray(labels))
    return labels

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(image_metrics, "classify", recording_classify)
    result = experiment.evaluate(new_state)
  labels = np.concatenate(seen)[:config.eval.num_samples]
  assert labels.shape == (config.eval.num_samples, 3)
  assert labels.min() >= 0 and labels.max() <= 9
  _, counts = np.unique(labels, axis=0, return_counts=True)
  p = counts / counts.sum()
  assert int(result["modes"]) == len(counts)
  np.testing.assert_allclose(float(result["kl"]),
                             np.sum(p * np.log(1000 * p)), rtol=1e-5)
  assert result["classifier_accuracy"] > 0.95
  experiment.plot(new_state, str(tmp_path / "grid.png"))
  assert os.path.getsize(tmp_path / "grid.png") > 0


def test_image_grid_layout():
  images = np.stack([np.full((2, 2, 1), v) for v in (-1.0, 1.0, 1.0, -1.0)])
  grid = image_experiment.image_grid(images, pad=0)
  np.testing.assert_array_equal(grid[..., 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                               [1, 1, 0, 0], [1, 1, 0, 0]])
  with pytest.raises(ValueError, match="square"):
    image_experiment.image_grid(images[:3])


def test_cli_trains_gan_on_stacked_digits(tmp_path, classifier_dir):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.images", "--config=stacked_digits",
       "--method=gan", f"--workdir={tmp_path}", "--config.num_steps=4",
       "--config.log_every=2", "--config.eval.every=4",
       "--config.checkpoint_every=2", "--config.batch_size=16",
       "--config.eval.num_samples=200", "--config.eval.chunk=100",
       "--config.eval.grid_side=2", "--config.noise_dim=8",
       "--config.generator.width=8", "--config.discriminator.width=8",
       f"--config.eval.classifier.dir={classifier_dir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / "final_metrics.json") as f:
    final = json.load(f)
  assert final["step"] == 4 and "modes" in final and "kl" in final
  assert os.path.exists(tmp_path / "samples_000004.png")
  assert os.path.exists(tmp_path / "curves.png")
  with open(tmp_path / "metrics.jsonl") as f:
    kinds = [json.loads(line)["kind"] for line in f]
  assert kinds == ["eval", "train", "train", "eval"]
