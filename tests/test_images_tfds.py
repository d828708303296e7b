"""The TFDS loaders under `tfds.testing.mock_data` (offline, no TensorFlow).

Skipped where tensorflow-datasets is not installed (it is in the `images`
extra, not in `test`); the reading logic itself is tested without TFDS in
test_images.py (`read_examples`).
"""

import jax
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from diwgan.data import images as image_data  # pylint: disable=g-import-not-at-top


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)),
                                        ("cifar10", (32, 32, 3))])
@pytest.mark.parametrize("download", [False, True])
def test_load_tfds_reads_mock_data(name, shape, download):
  with tfds.testing.mock_data(num_examples=12):
    data = image_data.load_tfds(name, split="train", download=download)
  assert data.images.shape == (12,) + shape
  assert data.images.dtype == np.uint8
  assert data.labels.shape == (12,)
  assert np.all((np.asarray(data.labels) >= 0) & (np.asarray(data.labels) < 10))
  assert float(data.max_value) == 255.0


def test_stacked_mnist_from_mock_data():
  with tfds.testing.mock_data(num_examples=20):
    data = image_data.load("stacked_mnist", split="train")
  batch = image_data.sample_batch(data, jax.random.key(0), 8, stacked=True)
  assert batch.images.shape == (8, 28, 28, 3)
  assert batch.labels.shape == (8, 3)
  assert float(batch.images.min()) >= -1.0 and float(batch.images.max()) <= 1.0
  assert image_data.image_shape("stacked_mnist") == (28, 28, 3)


# The eight methods of docs/baselines.md ("Image sets").
METHODS = ("gan", "unrolled", "veegan", "pacgan", "gne", "bms_vae_gan",
           "diwgan", "diwgan_noweights")


def _tiny_stacked_mnist(method, classifier_dir):
  """stacked_mnist with every network, and the DIW-GAN set-up, at toy size."""
  from experiments.configs import image_sets  # pylint: disable=g-import-not-at-top
  config = image_sets.get_config("stacked_mnist")
  config.method = method
  config.batch_size = 4
  config.noise_dim = 4
  config.generator.width = 4
  config.discriminator.width = 4
  config.generator.kernel_size = 3
  config.discriminator.kernel_size = 3
  # XLA's convolutions, the accelerators' path (the digits tests run the
  # CPU's patches); fast to compile, and fast outside a lax.scan.
  config.conv_impl = "xla"
  config.eval.grid_side = 2
  methods = config.methods
  methods.unrolled.unroll_steps = 1
  methods.veegan.reconstructor_width = 4
  methods.veegan.reconstructor_kernel_size = 3
  methods.bms_vae_gan.num_samples = 2
  methods.bms_vae_gan.encoder_width = 4
  methods.bms_vae_gan.encoder_kernel_size = 3
  methods.bms_vae_gan.latent_classifier_hidden = (8,)
  # DIW-GAN: a 1-step auto-encoder on 16 real images (the gate is tested in
  # test_images.py); its anchors' quality asks the (toy) classifier.
  config.num_real = 16
  config.autoencoder.width = 2
  config.autoencoder.hidden = 8
  config.autoencoder.latent_dim = 4
  config.autoencoder.kernel_size = 3
  config.autoencoder.steps = 1
  config.autoencoder.batch_size = 4
  config.autoencoder.max_relative_mse = 1e6
  config.eval.classifier.width = 2
  config.eval.classifier.hidden = 4
  config.eval.classifier.steps = 2
  config.eval.classifier.batch_size = 4
  config.eval.classifier.dir = classifier_dir
  return config


@pytest.fixture(scope="module")
def mock_classifier_dir(tmp_path_factory):
  """The toy classifier of `_tiny_stacked_mnist`, trained once on mock data."""
  from experiments import images as image_experiment  # pylint: disable=g-import-not-at-top
  directory = str(tmp_path_factory.mktemp("classifier"))
  with tfds.testing.mock_data(num_examples=10):
    image_experiment.load_or_train_classifier(
        _tiny_stacked_mnist("gan", directory), directory)
  return directory


@pytest.mark.parametrize("method", METHODS)
def test_stacked_mnist_experiment_trains_on_mock_data(
    tmp_path, method, mock_classifier_dir, fast_compile):
  """Every method builds its networks for 28x28x3 images and takes steps."""
  del fast_compile  # toy nets: compile time is the cost
  from experiments import images as image_experiment  # pylint: disable=g-import-not-at-top
  config = _tiny_stacked_mnist(method, mock_classifier_dir)
  with tfds.testing.mock_data(num_examples=10):
    experiment = image_experiment.build_experiment(config, str(tmp_path))
    state = experiment.initial_state()
  step = jax.jit(experiment.trainer.step)
  new_state, _ = step(state)
  new_state, metrics = step(new_state)
  assert int(new_state.step) == 2
  for name, value in metrics.items():
    assert np.all(np.isfinite(value)), name
  changed = jax.tree.map(lambda a, b: bool(np.any(a != b)),
                         state.generator_params, new_state.generator_params)
  assert all(jax.tree.leaves(changed)), changed
  samples = experiment.trainer.networks.generate(
      new_state.generator_params, jax.random.key(0), 4)
  assert samples.shape == (4, 28, 28, 3)
  experiment.plot(new_state, str(tmp_path / "grid.png"))
