r"""Trains and evaluates a method on an image set.

  python -m experiments.images --config=stacked_digits
  python -m experiments.images --config=stacked_digits --method=gan
  python -m experiments.images --config=digits --method=veegan
  python -m experiments.images --config=stacked_mnist --config.diw.alpha=2.0
  python -m experiments.images --config=stacked_digits --seeds=3  # vmapped seeds

--method takes every method of experiments.mog (gan, unrolled, veegan,
pacgan, gne, bms_vae_gan and the DIW-GAN variants); on images each uses the
convolutional networks of docs/baselines.md ("Image sets"), set in
config.methods.<name> (experiments/configs/image_sets.py).

Writes metrics.jsonl, samples_<step>.png (a grid of generated samples),
curves.png, final_metrics.json, anchor_quality.json and orbax checkpoints to
--workdir (default runs/images/<config>_<method>_seed<seed>); rerunning with
the same --workdir resumes from the last checkpoint. --seeds, --num_devices
and the jax.distributed flags work as in experiments.mog. The digit classifier
that judges the samples is trained once and cached with its test accuracy in
classifier.json under --config.eval.classifier.dir (default
<workdir>/classifier).
"""

import os

# The image set lives on the device once and `sample_real` closes over it.
# By default jit embeds closed-over arrays in the compiled program as
# constants (a second device copy, and the whole set serialised into the HLO
# on the host); the simplified-constants mode passes them to the program as
# arguments instead. Only effective when set before jax is imported, as it is
# when this module is the program (python -m experiments.images).
os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "true")

# pylint: disable=g-import-not-at-top,wrong-import-position
import copy
import functools
import json
import math
from typing import Any, Dict, NamedTuple, Optional

from absl import logging
from flax import traverse_util
import jax
import jax.numpy as jnp
from matplotlib.figure import Figure
import ml_collections
import numpy as np

from diwgan.data import images as image_data
from diwgan import methods
from diwgan.metrics import images as image_metrics
from diwgan import models
from diwgan import training
from experiments import cli
from experiments.configs import image_sets
from experiments import diw_setup
from experiments import loop
from experiments import registry
from experiments import report
from experiments import runs
from experiments import validation
# pylint: enable=g-import-not-at-top,wrong-import-position

CLASSIFIER_PARAMS = "classifier.npz"
CLASSIFIER_INFO = "classifier.json"
DIGIT_SETS = ("digits", "mnist")


class Classifier(NamedTuple):
  """A trained digit classifier and its held-out accuracy."""

  module: Any
  params: Any
  accuracy: float


def use_patches(config: ml_collections.ConfigDict) -> bool:
  """Whether convolutions run as slices + matmul (`config.conv_impl`)."""
  if config.conv_impl not in ("auto", "patches", "xla"):
    raise ValueError(
        f"Unknown conv_impl {config.conv_impl!r}; valid: 'auto', 'patches', "
        f"'xla'.")
  if config.conv_impl == "auto":
    return jax.default_backend() == "cpu"
  return config.conv_impl == "patches"


def _classifier_info(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  """What determines the cached classifier (a changed value retrains it)."""
  fields = config.eval.classifier
  return {
      "dataset": image_data.BASE_SET[config.dataset],
      **{name: fields[name] for name in (
          "width", "hidden", "steps", "batch_size", "learning_rate", "seed")},
  }


def _save_params(path: str, params: Any) -> None:
  flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
  with open(path, "wb") as f:
    np.savez(f, **flat)


def _load_params(path: str) -> Any:
  with np.load(path) as flat:
    return traverse_util.unflatten_dict(
        {name: jnp.asarray(flat[name]) for name in flat.files}, sep="/")


def load_or_train_classifier(
    config: ml_collections.ConfigDict,
    directory: str,
    train_set: image_data.ImageData = None,
) -> Classifier:
  """The cached digit classifier of `config`'s set, trained if missing.

  Trained on the "train" split (`train_set` when given, to reuse the copy
  already loaded), tested on the "test" split; parameters and test accuracy
  are stored under `directory/<set>/`.
  """
  fields = config.eval.classifier
  module = image_metrics.DigitClassifier(
      width=fields.width, hidden=fields.hidden, patches=use_patches(config))
  info = _classifier_info(config)
  folder = os.path.join(directory, info["dataset"])
  params_path = os.path.join(folder, CLASSIFIER_PARAMS)
  info_path = os.path.join(folder, CLASSIFIER_INFO)
  cached = None
  if os.path.exists(info_path) and os.path.exists(params_path):
    with open(info_path) as f:
      cached = json.load(f)
  if cached is not None and cached.get("config") == info:
    params = _load_params(params_path)
    accuracy = cached["test_accuracy"]
    logging.info("Digit classifier loaded from %s: test accuracy %.4f.",
                 folder, accuracy)
  else:
    load = functools.partial(
        image_data.load, config.dataset, data_dir=config.data.data_dir or None,
        download=config.data.download)
    if train_set is None:
      train_set = load(split="train")
    test_set = load(split="test")
    params = image_metrics.train_classifier(
        module, image_data.to_float(train_set.images, train_set.max_value),
        train_set.labels, jax.random.key(fields.seed), steps=fields.steps,
        batch_size=fields.batch_size, learning_rate=fields.learning_rate)
    predicted = image_metrics.classify(
        module, params, image_data.to_float(test_set.images,
                                            test_set.max_value))
    accuracy = float(image_metrics.accuracy(predicted, test_set.labels))
    if jax.process_index() == 0:
      os.makedirs(folder, exist_ok=True)
      _save_params(params_path, params)
      with open(info_path, "w") as f:
        json.dump({"config": info, "test_accuracy": accuracy,
                   "train_size": int(train_set.labels.shape[0]),
                   "test_size": int(test_set.labels.shape[0])}, f, indent=2)
    logging.info("Digit classifier trained on %d images: test accuracy %.4f "
                 "on %d held-out images; cached in %s.",
                 train_set.labels.shape[0], accuracy,
                 test_set.labels.shape[0], folder)
  if accuracy < fields.min_accuracy:
    logging.warning(
        "The digit classifier's test accuracy %.4f is below the expected %g; "
        "mode counts will be noisy. Raise eval.classifier.steps.", accuracy,
        fields.min_accuracy)
  return Classifier(module, params, accuracy)


def _coverage_metrics(labels: jax.Array, stacked: bool) -> Dict[str, Any]:
  if stacked:
    coverage = image_metrics.stacked_modes(labels)
  else:
    coverage = image_metrics.class_coverage(labels)
  return {"modes": coverage.modes, "kl": coverage.kl}


def _networks(config, shape, patches) -> training.Networks:
  """The DCGAN generator and discriminator of `config`."""
  return training.Networks(
      generator=models.ConvGenerator(
          shape, width=config.generator.width,
          kernel_size=config.generator.kernel_size, patches=patches),
      discriminator=models.ConvDiscriminator(
          width=config.discriminator.width,
          kernel_size=config.discriminator.kernel_size, patches=patches),
      noise_dim=config.noise_dim,
  )


def _check_eval_options(config: ml_collections.ConfigDict) -> None:
  """CIFAR-10 has no FID/IS yet: refuse to pretend, say what is done."""
  if config.dataset != "cifar10":
    return
  if config.eval.inception_weights:
    raise NotImplementedError(
        "FID/Inception score are not implemented yet: the Inception-v3 "
        "network that reads --config.eval.inception_weights is missing. "
        "Leave the flag empty to train with sample grids only.")
  logging.info("FID/IS skipped: no --config.eval.inception_weights given "
               "(nothing is downloaded without asking). Sample grids only.")


def _real_set(config, data, key) -> jax.Array:
  """The real images encoded for the anchor KDE and the quality gate."""
  name = config.dataset
  stacked = image_data.is_stacked(name)
  num_stored = data.images.shape[0]
  if config.num_real < 0:
    if stacked:
      raise ValueError(
          f"config.num_real must be positive for {name}: a stacked set is "
          f"sampled, never materialised in full.")
    indices = jnp.arange(num_stored)
  else:
    indices = image_data.sample_indices(key, num_stored, config.num_real,
                                        stacked=stacked)
  return image_data.gather(data, indices).images


def _anchor_quality(config, autoencoder, classifier):
  """(auto-encoder params, anchors) -> the decoded anchors' digit coverage."""

  def anchor_quality(ae_params, anchors):
    decoded = autoencoder.apply(ae_params, anchors, method=autoencoder.decode)
    model = classifier()
    found = _coverage_metrics(
        image_metrics.classify(model.module, model.params, decoded),
        image_data.is_stacked(config.dataset))
    return {**{f"anchor_{k}": v for k, v in found.items()},
            "num_anchors": config.batch_size}

  return anchor_quality


def _evaluator(config, networks, classifier, key):
  """(state) -> modes and KL of generated digits (pixel stats otherwise)."""
  chunk = config.eval.chunk
  stacked = image_data.is_stacked(config.dataset)

  # Keys are arguments, not constants of the programs: every seed runs the
  # same programs (and loads them from the compilation cache).
  @jax.jit
  def generate_chunk(generator_params, key, index):
    return networks.generate(
        generator_params, jax.random.fold_in(key, index), chunk)

  def evaluate(state):
    num_chunks = math.ceil(config.eval.num_samples / chunk)
    if classifier is None:
      samples = generate_chunk(state.generator_params, key, 0)
      return {"pixel_mean": jnp.mean(samples), "pixel_std": jnp.std(samples)}
    model = classifier()
    labels = jnp.concatenate([
        image_metrics.classify(
            model.module, model.params,
            generate_chunk(state.generator_params, key, i))
        for i in range(num_chunks)])[: config.eval.num_samples]
    return {**_coverage_metrics(labels, stacked),
            "classifier_accuracy": model.accuracy}

  return evaluate


def _grid_plotter(config, networks, key):
  """(state, path) -> a PNG grid of generated samples."""
  grid_size = config.eval.grid_side**2

  @jax.jit
  def generate_grid(generator_params, key):
    return networks.generate(generator_params, key, grid_size)

  def plot(state, path):
    save_grid(generate_grid(state.generator_params, key),
              title=f"{config.dataset} {config.method} step "
              f"{int(state.step)}", path=path)

  return plot


def build_experiment(
    config: ml_collections.ConfigDict, workdir: str = None
) -> runs.Experiment:
  """Everything `loop.train` needs for this config."""
  _check_eval_options(config)
  name = config.dataset
  shape = image_data.image_shape(name)
  data = image_data.load(
      name, split=config.data.split, data_dir=config.data.data_dir or None,
      download=config.data.download)
  patches = use_patches(config)
  networks = _networks(config, shape, patches)
  ae = config.autoencoder
  autoencoder = models.ConvAutoEncoder(
      shape, latent_dim=ae.latent_dim, width=ae.width, hidden=ae.hidden,
      kernel_size=ae.kernel_size, patches=patches)
  encode = functools.partial(autoencoder.apply, method=autoencoder.encode)
  method = registry.make_method(config, encode, patches=patches)
  sample_real = functools.partial(image_data.sample_images, data,
                                  stacked=image_data.is_stacked(name))
  trainer = runs.make_trainer(config, networks, method, sample_real)
  init_key, ae_key, real_key, anchor_key, eval_key = jax.random.split(
      jax.random.key(config.seed), 5)
  sample_key, grid_key = jax.random.split(eval_key)

  # The digit classifier is trained (or loaded) on first use, so building an
  # experiment is cheap; every process trains it the same way (fixed seed),
  # one writes it.
  classifier = None
  if image_data.BASE_SET[name] in DIGIT_SETS:
    classifier = functools.lru_cache(maxsize=None)(
        lambda: load_or_train_classifier(
            config, config.eval.classifier.dir or os.path.join(
                workdir or ".", "classifier"),
            data if config.data.split == "train" else None))

  def method_state(pretrain: bool):
    if not registry.needs_autoencoder(config.method):
      # One compiled program (the Unrolled GAN's optimizer state and
      # BMS-VAE-GAN's power-iteration vectors init conv networks).
      return jax.jit(lambda: registry.init_method_state(
          method, jax.random.fold_in(init_key, 1), networks,
          jnp.zeros((1,) + shape, jnp.float32)))()
    if pretrain:
      return diw_setup.pretrained_diw_state(
          config, autoencoder, lambda: _real_set(config, data, real_key),
          (ae_key, anchor_key), workdir, sample_real=sample_real,
          encode_chunk=config.eval.chunk,
          anchor_quality=(None if classifier is None else _anchor_quality(
              config, autoencoder, classifier)))
    # The checkpoint template: same structure, no training.
    return methods.init_diw_state(
        autoencoder.init(ae_key, jnp.zeros((1,) + shape)),
        jnp.zeros((config.batch_size, ae.latent_dim)),
        history=config.diw.history)

  # Compiled as whole programs: op by op, the flax inits would compile
  # dozens of tiny programs.
  init = jax.jit(trainer.init)
  return runs.Experiment(
      trainer=trainer,
      initial_state=lambda: init(init_key, method_state(True)),
      template_state=jax.jit(
          lambda: trainer.init(init_key, method_state(False))),
      evaluate=_evaluator(config, networks, classifier, sample_key),
      plot=_grid_plotter(config, networks, grid_key),
      summary_plot=plot_curves if classifier is not None else None,
  )


def image_grid(images: np.ndarray, *, pad: int = 1) -> np.ndarray:
  """(n, h, w, c) images in [-1, 1] -> one (H, W, c) grid in [0, 1].

  n must be a square; images are separated by `pad` white pixels.
  """
  images = np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)
  num, height, width, channels = images.shape
  side = math.isqrt(num)
  if side * side != num:
    raise ValueError(f"Expected a square number of images, got {num}.")
  padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                  constant_values=1.0)
  height, width = height + 2 * pad, width + 2 * pad
  grid = padded.reshape(side, side, height, width, channels)
  return grid.transpose(0, 2, 1, 3, 4).reshape(side * height, side * width,
                                               channels)


def save_grid(images, *, title: str, path: str) -> None:
  """Writes a PNG grid of (n, h, w, c) images in [-1, 1], n a square."""
  grid = image_grid(np.asarray(images))
  fig = Figure(figsize=(5, 5))
  ax = fig.subplots()
  if grid.shape[-1] == 1:
    ax.imshow(grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0,
              interpolation="nearest")
  else:
    ax.imshow(grid, interpolation="nearest")
  ax.set_axis_off()
  ax.set_title(title)
  fig.savefig(path, dpi=100, bbox_inches="tight")


def plot_curves(eval_records: list, path: str) -> None:
  """Modes found and KL to uniform against steps."""
  report.plot_eval_curves(eval_records, path, [
      ("modes found", [("modes", None, 1.0)]),
      ("KL(generated || uniform)", [("kl", None, 1.0)])])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       start_time: Optional[float] = None):
  """Trains `config` into `workdir` (resuming) and returns final metrics.

  `config.num_seeds` > 1 trains seeds `config.seed + i` together under vmap;
  `config.num_devices` devices (0: all) split the batch. The seeds share one
  classifier, cached in `<workdir>/classifier` unless the config names one.
  `start_time` is when the command started (default now).
  """
  validation.validate(config, datasets=image_sets.CONFIGS,
                      methods=registry.METHODS)
  if not config.eval.classifier.dir:
    config = copy.deepcopy(config)
    config.eval.classifier.dir = os.path.join(workdir, "classifier")
  return loop.train(
      runs.build_runs(build_experiment, config, workdir), config, workdir,
      start_time=start_time)


if __name__ == "__main__":
  cli.run(get_config=image_sets.get_config,
          config_names=image_sets.CONFIGS, default_config="stacked_digits",
          train_and_evaluate=train_and_evaluate,
          family="images", kind="Image")
