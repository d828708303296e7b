"""Mode coverage of generated images, by a digit classifier (docs/method.md, Metrics).

The stacked-MNIST protocol of VEEGAN and PacGAN: a CNN trained on the real
digits labels each channel of a generated sample; the sample's mode is its
class triple (c1, c2, c3), one of 1000. Modes found = distinct triples among
the generated samples; KL(generated triple histogram || uniform over 1000),
natural log. Single-channel sets use the class histogram (10 modes) the same
way.

Pure functions: training the classifier returns its parameters, caching them
is the experiment's business.
"""

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import optax

from diwgan.models import conv


class DigitClassifier(nn.Module):
  """CNN digit classifier: (b, h, w, 1) images in [-1, 1] -> (b, 10) logits.

  Two 3x3 convolutions per stage (the second of the first k stride 2, as in
  `conv.num_halvings`), ReLU, then a dense hidden layer with dropout.

  Attributes:
    num_classes: output classes.
    width: channels of the first stage (doubled per stage).
    hidden: dense hidden width.
    dropout_rate: dropout before the output layer while training.
    patches: slices + matmul convolutions, fast on CPU (see
      `conv.patch_conv_general_dilated`).
  """

  num_classes: int = 10
  width: int = 32
  hidden: int = 128
  dropout_rate: float = 0.3
  patches: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    stages = max(conv.num_halvings(x.shape[-3]), 1)
    for stage in range(stages):
      width = self.width * 2**stage
      x = nn.relu(conv.conv_layer(width, 3, patches=self.patches)(x))
      x = nn.relu(conv.conv_layer(width, 3, patches=self.patches, stride=2)(x))
    x = x.reshape(x.shape[:-3] + (-1,))
    x = nn.relu(nn.Dense(self.hidden)(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


def train_classifier(
    classifier: nn.Module,
    images: ArrayLike,
    labels: ArrayLike,
    key: jax.Array,
    *,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> Any:
  """Trains `classifier` by cross-entropy on (images, labels).

  Adam with a cosine decay, batches drawn with replacement by index, dropout
  on the hidden layer.

  Args:
    classifier: e.g. `DigitClassifier()`.
    images: (n, h, w, 1) float images in [-1, 1].
    labels: (n,) int classes.
    key: PRNG key.
    steps: Adam steps.
    batch_size: images per step.
    learning_rate: initial rate.

  Returns:
    The trained parameters.
  """
  images = jnp.asarray(images, jnp.float32)
  labels = jnp.asarray(labels, jnp.int32)
  init_key, loop_key = jax.random.split(key)
  params = classifier.init(init_key, images[:1])
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01))

  def loss_fn(params, batch, batch_labels, dropout_key):
    logits = classifier.apply(params, batch, train=True,
                              rngs={"dropout": dropout_key})
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, batch_labels).mean()

  def step(carry, index):
    params, opt_state = carry
    rows_key, dropout_key = jax.random.split(
        jax.random.fold_in(loop_key, index))
    rows = jax.random.randint(rows_key, (batch_size,), 0, images.shape[0])
    loss, grads = jax.value_and_grad(loss_fn)(
        params, images[rows], labels[rows], dropout_key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  @jax.jit
  def run(params):
    (params, _), _ = jax.lax.scan(
        step, (params, tx.init(params)), jnp.arange(steps))
    return params

  return run(params)


@functools.partial(jax.jit, static_argnums=0)
def _predict(classifier: nn.Module, params: Any,
             images: jax.Array) -> jax.Array:
  return jnp.argmax(classifier.apply(params, images), -1).astype(jnp.int32)


def classify(
    classifier: nn.Module, params: Any, images: ArrayLike, *, chunk: int = 4096
) -> jax.Array:
  """Class of every channel of every image.

  Args:
    classifier: a single-channel classifier, (b, h, w, 1) -> (b, classes).
    params: its parameters.
    images: (n, h, w, c) images in [-1, 1]; each channel is classified as a
      grey image.
    chunk: images per classifier call.

  Returns:
    (n,) int32 classes for c = 1, else (n, c) (stacked: the class triple).
  """
  images = jnp.asarray(images, jnp.float32)
  num, height, width, channels = images.shape
  grey = jnp.moveaxis(images, -1, 1).reshape(num * channels, height, width, 1)
  if num == 0:
    labels = jnp.zeros((0, channels), jnp.int32)
    return labels[:, 0] if channels == 1 else labels
  # Equal-sized chunks (the last one padded) compile once per chunk size.
  size = min(chunk, grey.shape[0])
  padded = -(-grey.shape[0] // size) * size
  grey = jnp.pad(grey, ((0, padded - grey.shape[0]), (0, 0), (0, 0), (0, 0)))
  labels = jnp.concatenate([_predict(classifier, params, grey[i : i + size])
                            for i in range(0, padded, size)])
  labels = labels[: num * channels].reshape(num, channels)
  return labels[:, 0] if channels == 1 else labels


def accuracy(predicted: ArrayLike, labels: ArrayLike) -> jax.Array:
  """() fraction of `predicted` equal to `labels`."""
  return jnp.mean(jnp.asarray(predicted) == jnp.asarray(labels))


class ModeCoverage(NamedTuple):
  """How a sample set covers K equally likely modes.

  Attributes:
    modes: () int32, modes hit by at least one sample.
    kl: () float32, KL(sample histogram || uniform over K), natural log:
      0 for a perfectly uniform histogram, log K when all samples share one
      mode.
    histogram: (K,) int32 samples per mode.
  """

  modes: jax.Array
  kl: jax.Array
  histogram: jax.Array


def mode_coverage(mode_ids: ArrayLike, num_modes: int) -> ModeCoverage:
  """Modes hit and KL to uniform of samples labelled `mode_ids` (N,) in [0, K).

  Jittable with `num_modes` static.
  """
  mode_ids = jnp.asarray(mode_ids, jnp.int32)
  histogram = jnp.bincount(mode_ids, length=num_modes).astype(jnp.int32)
  frequencies = histogram / jnp.maximum(histogram.sum(), 1)
  # sum_k p_k log(p_k / (1/K)), with 0 log 0 = 0.
  kl = jnp.sum(jnp.where(
      histogram > 0,
      frequencies * jnp.log(jnp.where(histogram > 0, frequencies, 1.0)
                            * num_modes),
      0.0))
  return ModeCoverage(
      modes=jnp.sum(histogram > 0).astype(jnp.int32),
      kl=kl.astype(jnp.float32),
      histogram=histogram,
  )


def triple_ids(labels: ArrayLike, *, num_classes: int = 10) -> jax.Array:
  """(N, 3) class triples -> (N,) mode ids c1 * 100 + c2 * 10 + c3."""
  labels = jnp.asarray(labels, jnp.int32)
  first, second, third = labels[:, 0], labels[:, 1], labels[:, 2]
  return (first * num_classes + second) * num_classes + third


def stacked_modes(labels: ArrayLike, *, num_classes: int = 10) -> ModeCoverage:
  """Distinct class triples and KL to uniform over num_classes^3 (1000) modes.

  Args:
    labels: (N, 3) int classes of the 3 channels of N generated samples.
    num_classes: classes per channel.

  Returns:
    `ModeCoverage` over the 1000 triples.
  """
  labels = jnp.asarray(labels)
  if labels.ndim != 2 or labels.shape[1] != 3:
    raise ValueError(f"Expected (N, 3) class triples, got {labels.shape}.")
  return mode_coverage(triple_ids(labels, num_classes=num_classes),
                       num_classes**3)


def class_coverage(labels: ArrayLike, *, num_classes: int = 10) -> ModeCoverage:
  """Class histogram of (N,) labels, classes hit and KL to uniform."""
  return mode_coverage(labels, num_classes)
