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


def test_stacked_mnist_experiment_trains_on_mock_data(tmp_path):
  from experiments import images as image_experiment  # pylint: disable=g-import-not-at-top
  from experiments.configs import image_sets  # pylint: disable=g-import-not-at-top
  config = image_sets.get_config("stacked_mnist")
  config.method = "gan"
  config.batch_size = 4
  config.noise_dim = 4
  config.generator.width = 4
  config.discriminator.width = 4
  config.generator.kernel_size = 3
  config.discriminator.kernel_size = 3
  config.eval.grid_side = 2
  with tfds.testing.mock_data(num_examples=10):
    experiment = image_experiment.build_experiment(config, str(tmp_path))
  state = experiment.initial_state()
  new_state, metrics = jax.jit(
      experiment.trainer.train_steps, static_argnums=1)(state, 2)
  assert int(new_state.step) == 2
  assert np.all(np.isfinite(metrics["g_loss"]))
  experiment.plot(new_state, str(tmp_path / "grid.png"))
