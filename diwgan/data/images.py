"""The image sets of docs/method.md (Data sets), held once and sampled by index.

Sets, named by their `--config` value:

- `digits`: scikit-learn's bundled 8x8 digits (1797 images, 10 classes), one
  channel; no download.
- `stacked_digits`: three `digits` images drawn independently and uniformly
  as the R, G, B channels: 1000 modes, labelled by the class triple.
- `mnist`, `cifar10`: the TFDS sets, one and three channels.
- `stacked_mnist`: three MNIST digits as RGB channels (1000 modes).

An `ImageData` keeps the images as uint8 in their native range (0..16 for the
digits, 0..255 for TFDS) and `max_value`; samplers gather rows by random
index and scale them to [-1, 1] inside jit, so the set is held once on the
device and a stacked sample exists only as the 3 indices that build it.

Only the TFDS loader touches files (reading a prepared TFDS set, or preparing
it when asked); tensorflow-datasets is imported inside it, so importing this
module needs neither TFDS nor TensorFlow.
"""

from typing import Any, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

IMAGE_SETS = ("digits", "stacked_digits", "mnist", "stacked_mnist", "cifar10")
# The stored set each name samples from, and whether it stacks 3 of them.
BASE_SET = {
    "digits": "digits", "stacked_digits": "digits", "mnist": "mnist",
    "stacked_mnist": "mnist", "cifar10": "cifar10",
}
STACKED_SETS = ("stacked_digits", "stacked_mnist")
TFDS_SETS = ("mnist", "cifar10")
NUM_CLASSES = 10
NUM_STACKED_CHANNELS = 3
# Seed of the fixed permutation that splits the 1797 digits into train/test.
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
# Pixel maximum of sklearn's digits (16 grey levels plus zero).
DIGITS_MAX_VALUE = 16


class ImageData(NamedTuple):
  """A labelled image set, stored once; a pytree of arrays.

  Attributes:
    images: (n, h, w, c) uint8 images in [0, max_value].
    labels: (n,) int32 class labels.
    max_value: () float32, the pixel value that maps to 1.0 (0 maps to -1).
  """

  images: jax.Array
  labels: jax.Array
  max_value: jax.Array


class ImageBatch(NamedTuple):
  """Images in [-1, 1] and the labels of their modes.

  Attributes:
    images: (b, h, w, c) float32 in [-1, 1].
    labels: (b,) int32 class, or (b, 3) class triple of a stacked batch.
  """

  images: jax.Array
  labels: jax.Array


def check_name(name: str) -> None:
  if name not in IMAGE_SETS:
    raise ValueError(
        f"Unknown image set {name!r}; valid names are {', '.join(IMAGE_SETS)}."
    )


def is_stacked(name: str) -> bool:
  check_name(name)
  return name in STACKED_SETS


def image_shape(name: str) -> Tuple[int, int, int]:
  """(h, w, c) of the images that set `name` yields (stacked: 3 channels)."""
  check_name(name)
  height, width, channels = {
      "digits": (8, 8, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3),
  }[BASE_SET[name]]
  if name in STACKED_SETS:
    channels = NUM_STACKED_CHANNELS
  return height, width, channels


def num_modes(name: str) -> int:
  """10 classes, or the 1000 class triples of a stacked set."""
  return NUM_CLASSES ** (NUM_STACKED_CHANNELS if is_stacked(name) else 1)


def _as_image_data(images: np.ndarray, labels: np.ndarray,
                   max_value: float) -> ImageData:
  return ImageData(
      images=jnp.asarray(images, jnp.uint8),
      labels=jnp.asarray(labels, jnp.int32),
      max_value=jnp.asarray(max_value, jnp.float32),
  )


def load_digits(split: str = "all") -> ImageData:
  """scikit-learn's 8x8 digits (bundled with scikit-learn, no download).

  Args:
    split: "all" (1797 images), or "train" / "test": a fixed permutation
      (seed `DIGITS_SPLIT_SEED`) of which the last 20% (360 images) is the
      test split.

  Returns:
    `ImageData` with (n, 8, 8, 1) images in 0..16.
  """
  try:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ImportError(
        "The digits sets need scikit-learn: pip install -e '.[images]' (or "
        "'.[test]')."
    ) from error
  bunch = datasets.load_digits()
  images = bunch.images.astype(np.uint8)[..., None]  # values are 0..16
  labels = bunch.target.astype(np.int32)
  if split != "all":
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    num_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    if split == "train":
      rows = order[:-num_test]
    elif split == "test":
      rows = order[-num_test:]
    else:
      raise ValueError(
          f"Unknown digits split {split!r}; valid: 'all', 'train', 'test'.")
    images, labels = images[rows], labels[rows]
  return _as_image_data(images, labels, DIGITS_MAX_VALUE)


def read_examples(source: Sequence[Any]) -> Tuple[np.ndarray, np.ndarray]:
  """Reads a random-access sequence of {'image', 'label'} examples.

  The arrays are allocated once and filled example by example, so the host
  holds a single uint8 copy of the set.

  Args:
    source: e.g. a `tfds.data_source` split: `len(source)` examples, each a
      dict with 'image' (h, w, c) uint8 and 'label' ().

  Returns:
    (images (n, h, w, c) uint8, labels (n,) int32).
  """
  num = len(source)
  if num == 0:
    raise ValueError("The data source is empty.")
  first = source[0]
  images = np.empty((num,) + np.shape(first["image"]), np.uint8)
  labels = np.empty((num,), np.int32)
  for row in range(num):
    example = first if row == 0 else source[row]
    images[row] = example["image"]
    labels[row] = example["label"]
  return images, labels


def load_tfds(
    name: str,
    *,
    split: str = "train",
    data_dir: Optional[str] = None,
    download: bool = False,
) -> ImageData:
  """Loads a TFDS image set (`mnist` or `cifar10`) into one uint8 array.

  Reads through `tfds.data_source` (NumPy only, no TensorFlow needed) when the
  set is prepared in a random-access format (array_record). A set prepared
  in TFRecord format (the TFDS default, e.g. by an earlier `tfds.load`) is
  read with `tfds.as_numpy(builder.as_dataset(batch_size=-1))`, which needs
  TensorFlow. Preparing a set (`download=True`) runs TFDS's download and
  PNG encoding, which needs the network and TensorFlow.

  Args:
    name: "mnist" or "cifar10".
    split: a TFDS split, e.g. "train", "test", "train+test".
    data_dir: TFDS data folder (default: $TFDS_DATA_DIR or
      ~/tensorflow_datasets).
    download: prepare the set (as array_record) if it is not there yet.

  Returns:
    `ImageData` with (n, h, w, c) images in 0..255.
  """
  if name not in TFDS_SETS:
    raise ValueError(
        f"Unknown TFDS image set {name!r}; valid: {', '.join(TFDS_SETS)}.")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ImportError(
        f"The {name} set needs tensorflow-datasets: pip install -e "
        f"'.[images]'."
    ) from error
  builder = tfds.builder(name, data_dir=data_dir)
  if download:
    builder.download_and_prepare(file_format="array_record")
  try:
    source = builder.as_data_source(split=split)
  except NotImplementedError:
    # Prepared as TFRecord: no random access; read it whole through TF.
    as_numpy = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    images, labels = as_numpy["image"], as_numpy["label"]
  else:
    images, labels = read_examples(source)
  return _as_image_data(images, labels, 255.0)


def load(
    name: str,
    *,
    split: str = "train",
    data_dir: Optional[str] = None,
    download: bool = False,
) -> ImageData:
  """The stored set behind image set `name` (a stacked set's single digits).

  Args:
    name: one of `IMAGE_SETS`.
    split: "train", "test", or "all" (digits) / "train+test" (TFDS).
    data_dir: TFDS data folder (TFDS sets only).
    download: let TFDS download and prepare the set if it is missing.
  """
  check_name(name)
  base = BASE_SET[name]
  if base == "digits":
    return load_digits("all" if split == "train+test" else split)
  if split == "all":
    split = "train+test"
  return load_tfds(base, split=split, data_dir=data_dir, download=download)


def to_float(images: ArrayLike, max_value: ArrayLike) -> jax.Array:
  """uint8 images in [0, max_value] -> float32 in [-1, 1]."""
  scale = 2.0 / jnp.asarray(max_value, jnp.float32)
  return jnp.asarray(images, jnp.float32) * scale - 1.0


def gather(data: ImageData, indices: ArrayLike) -> ImageBatch:
  """The images at `indices`, stacked along channels for (b, 3) indices.

  Args:
    data: the stored set, (n, h, w, 1) for a stacked gather.
    indices: (b,) rows, or (b, 3) rows whose images become the channels.

  Returns:
    `ImageBatch`: (b, h, w, c) or (b, h, w, 3) images in [-1, 1] and (b,)
    or (b, 3) labels.
  """
  indices = jnp.asarray(indices)
  images = data.images[indices]  # (b, h, w, c) or (b, 3, h, w, 1)
  if indices.ndim == 2:
    if data.images.shape[-1] != 1:
      raise ValueError(
          f"Stacking needs single-channel images, got shape "
          f"{data.images.shape}.")
    images = jnp.moveaxis(images[..., 0], 1, -1)  # (b, h, w, 3)
  return ImageBatch(images=to_float(images, data.max_value),
                    labels=data.labels[indices])


def sample_indices(
    key: jax.Array, num_images: int, batch_size: int, *, stacked: bool
) -> jax.Array:
  """(b,) or, stacked, (b, 3) indices drawn uniformly with replacement."""
  shape = (batch_size, NUM_STACKED_CHANNELS) if stacked else (batch_size,)
  return jax.random.randint(key, shape, 0, num_images)


def sample_batch(
    data: ImageData, key: jax.Array, batch_size: int, *, stacked: bool
) -> ImageBatch:
  """A random batch with its labels; stacked batches are built on the fly.

  Jittable with `batch_size` and `stacked` static.

  Args:
    data: the stored set.
    key: PRNG key.
    batch_size: b.
    stacked: draw 3 independent images per sample as its channels.

  Returns:
    `ImageBatch` of b images in [-1, 1].
  """
  indices = sample_indices(key, data.images.shape[0], batch_size,
                           stacked=stacked)
  return gather(data, indices)


def sample_images(
    data: ImageData, key: jax.Array, batch_size: int, *, stacked: bool
) -> jax.Array:
  """`sample_batch` without labels: the trainer's `sample_real` (b, h, w, c)."""
  return sample_batch(data, key, batch_size, stacked=stacked).images
