"""Convolutional networks of the image experiments (docs/method.md, Architectures).

DCGAN-style generator and discriminator, and the conv auto-encoder (encoder:
three 5x5 convolutions and two dense layers; decoder: one dense layer and
three transposed convolutions). All are sized by the image shape: the
resolution is halved up to three times while it stays even and >= 4, so
28x28 works at 7x7 (2 halvings), 32x32 at 4x4 (3) and 8x8 at 4x4 (1).

DCGAN's batch norm is replaced by layer norm in the generator (and left out
of the discriminator): the one generic train step applies networks as pure
functions, without mutable batch statistics, and layer norm is the stateless
normalisation that keeps the generator's deconvolutions well scaled.
"""

import functools
from typing import Any, Optional, Sequence, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

ImageShape = Tuple[int, int, int]

MAX_HALVINGS = 3
MIN_RESOLUTION = 4


def num_halvings(height: int) -> int:
  """Stride-2 stages for a side of `height` (28 -> 2, 32 -> 3, 8 -> 1)."""
  count = 0
  while (count < MAX_HALVINGS and height % 2 == 0
         and height // 2 >= MIN_RESOLUTION):
    height //= 2
    count += 1
  return count


def patch_conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: Union[str, Sequence[Tuple[int, int]]],
    lhs_dilation: Optional[Sequence[int]] = None,
    rhs_dilation: Optional[Sequence[int]] = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
    **unused_kwargs,
) -> jax.Array:
  """2-D convolution as shifted slices and one matmul (im2col).

  A drop-in for `lax.conv_general_dilated` on NHWC inputs and HWIO kernels
  (what `flax.linen.Conv` passes), without kernel dilation or feature groups.
  Its kernel gradient is a matmul where XLA's is a convolution: XLA:CPU runs
  kernel-gradient convolutions inside a `while` loop (the trainer's
  `lax.scan`) through a slow generic path, 30-100x slower than outside one
  (jax issue 12868; measured 0.2-0.5 s per 8x8 layer). Costs k*k times the
  input's memory for the patches, so use it on CPU and `lax`'s on
  accelerators.

  Args:
    lhs: (b, h, w, c) inputs.
    rhs: (kh, kw, c, o) kernel.
    window_strides: (sh, sw).
    padding: "SAME", "VALID" or ((lo, hi), (lo, hi)).
    lhs_dilation: input dilation (transposed convolution), or None.
    rhs_dilation: must be None or ones.
    dimension_numbers: must be NHWC / HWIO (flax's default) or None.
    feature_group_count: must be 1.
    precision: matmul precision.

  Returns:
    (b, h', w', o), equal to `lax.conv_general_dilated`'s output.
  """
  del unused_kwargs
  if dimension_numbers is not None:
    expected = jax.lax.conv_dimension_numbers(
        lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))
    if tuple(dimension_numbers) != tuple(expected):
      raise ValueError(f"Only NHWC/HWIO, got {dimension_numbers}.")
  if feature_group_count != 1 or (rhs_dilation and set(rhs_dilation) != {1}):
    raise ValueError("No feature groups or kernel dilation.")
  kernel_h, kernel_w, in_features, out_features = rhs.shape
  if lhs_dilation and set(lhs_dilation) != {1}:
    batch, height, width, channels = lhs.shape
    dil_h, dil_w = lhs_dilation
    dilated = jnp.zeros(
        (batch, (height - 1) * dil_h + 1, (width - 1) * dil_w + 1, channels),
        lhs.dtype)
    lhs = dilated.at[:, ::dil_h, ::dil_w, :].set(lhs)
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(
        lhs.shape[1:3], (kernel_h, kernel_w), window_strides, padding)
  lhs = jnp.pad(lhs, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
  stride_h, stride_w = window_strides
  out_h = (lhs.shape[1] - kernel_h) // stride_h + 1
  out_w = (lhs.shape[2] - kernel_w) // stride_w + 1
  patches = jnp.stack([
      lhs[:, i : i + stride_h * (out_h - 1) + 1 : stride_h,
          j : j + stride_w * (out_w - 1) + 1 : stride_w, :]
      for i in range(kernel_h) for j in range(kernel_w)
  ], axis=3)  # (b, h', w', kh * kw, c)
  kernel = rhs.reshape(kernel_h * kernel_w, in_features, out_features)
  return jnp.einsum("bhwkc,kco->bhwo", patches, kernel, precision=precision)


def conv_layer(
    features: int,
    kernel_size: int,
    *,
    patches: bool,
    stride: int = 1,
    upsample: bool = False,
) -> nn.Conv:
  """A square convolution; `upsample` makes it a stride-2 transposed one.

  The transposed convolution is written as a convolution of the input
  dilated by 2 (lhs dilation, which is what `lax.conv_transpose` computes),
  padded to give exactly twice the input's side, so the two implementations
  (`patches` or XLA's) share parameter shapes and checkpoints.
  """
  kernel = (kernel_size, kernel_size)
  conv_fn = patch_conv_general_dilated if patches else None
  if upsample:
    pad = (kernel_size // 2, kernel_size - kernel_size // 2)
    return nn.Conv(features, kernel, padding=(pad, pad), input_dilation=(2, 2),
                   conv_general_dilated=conv_fn)
  return nn.Conv(features, kernel, strides=(stride, stride), padding="SAME",
                 conv_general_dilated=conv_fn)


def _check_square(shape: Sequence[int]) -> None:
  if len(shape) != 3 or shape[0] != shape[1]:
    raise ValueError(f"Expected a square (h, w, c) image shape, got {shape}.")


class ConvGenerator(nn.Module):
  """DCGAN generator: noise (b, noise_dim) -> images (b, h, w, c) in [-1, 1].

  Dense to (s, s, width * 2^k) at the smallest resolution s = h / 2^k, then k
  stride-2 transposed convolutions halving the width, each followed by layer
  norm and ReLU, and a stride-1 convolution to c channels with tanh.

  Attributes:
    image_shape: (h, w, c) of the output, square.
    width: channels of the last hidden layer (64 in DCGAN).
    kernel_size: side of the (transposed) convolution kernels.
    patches: compute convolutions as slices + matmul
      (`patch_conv_general_dilated`, fast on CPU) instead of XLA's.
  """

  image_shape: ImageShape
  width: int = 64
  kernel_size: int = 5
  patches: bool = False

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    _check_square(self.image_shape)
    height, _, channels = self.image_shape
    stages = num_halvings(height)
    side = height // 2**stages
    conv = functools.partial(conv_layer, kernel_size=self.kernel_size,
                             patches=self.patches)
    x = nn.Dense(side * side * self.width * 2**stages)(z)
    x = x.reshape(z.shape[:-1] + (side, side, self.width * 2**stages))
    x = nn.relu(nn.LayerNorm()(x))
    for stage in range(stages):
      x = conv(self.width * 2**(stages - stage - 1), upsample=True)(x)
      x = nn.relu(nn.LayerNorm()(x))
    return jnp.tanh(conv(channels)(x))


class ConvDiscriminator(nn.Module):
  """DCGAN discriminator: images (b, h, w, c) -> logits (b,).

  A stride-1 convolution of `width` channels, then k stride-2 convolutions
  doubling the width, LeakyReLU(0.2) after each, and a dense logit. The
  options make the same network serve the baselines' image networks
  (docs/baselines.md, "Image sets"): an image encoder (`out_dim`), a
  discriminator on (z, x) pairs (`condition`), and a spectrally normalised
  discriminator (`spectral_norm`).

  Attributes:
    width: channels of the first convolution.
    kernel_size: side of the convolution kernels.
    patches: slices + matmul convolutions (see `ConvGenerator`).
    out_dim: None: one logit per image, (b,); an integer: (b, out_dim)
      outputs of the dense layer (an encoder x -> z).
    spectral_norm: every layer (convolutions and the dense output)
      spectrally normalised (`flax.linen.SpectralNorm`, one power iteration
      per call); its power-iteration vectors live in the 'batch_stats'
      collection and are refined by a call with `update_stats=True`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> images, z = jnp.zeros((2, 8, 8, 1)), jnp.zeros((2, 4))
    >>> pairs = ConvDiscriminator(width=4, kernel_size=3)
    >>> pairs.apply(pairs.init(jax.random.key(0), images, z), images, z).shape
    (2,)
    >>> encoder = ConvDiscriminator(width=4, kernel_size=3, out_dim=6)
    >>> encoder.apply(encoder.init(jax.random.key(0), images), images).shape
    (2, 6)
  """

  width: int = 64
  kernel_size: int = 5
  patches: bool = False
  out_dim: Optional[int] = None
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, condition: Optional[jax.Array] = None, *,
               update_stats: bool = False) -> jax.Array:
    """Logits (b,), or (b, out_dim) outputs, of images x (b, h, w, c).

    Args:
      x: (b, h, w, c) images.
      condition: optional (b, k) vectors joined to the flattened convolution
        features before the dense output (VEEGAN's D(z, x) reads x with the
        convolutions and z at the dense layer).
      update_stats: refine the spectral norm's power-iteration vectors
        (needs `mutable=['batch_stats']`); ignored without `spectral_norm`.
    """
    _check_square(x.shape[-3:])

    def layer(module):
      if not self.spectral_norm:
        return module
      return lambda inputs: nn.SpectralNorm(module)(
          inputs, update_stats=update_stats)

    conv = functools.partial(conv_layer, kernel_size=self.kernel_size,
                             patches=self.patches)
    stages = num_halvings(x.shape[-3])
    x = nn.leaky_relu(layer(conv(self.width))(x), 0.2)
    for stage in range(stages):
      x = nn.leaky_relu(
          layer(conv(self.width * 2**(stage + 1), stride=2))(x), 0.2)
    x = x.reshape(x.shape[:-3] + (-1,))
    if condition is not None:
      x = jnp.concatenate([x, condition], axis=-1)
    if self.out_dim is None:
      return layer(nn.Dense(1))(x)[..., 0]
    return layer(nn.Dense(self.out_dim))(x)


class ConvAutoEncoder(nn.Module):
  """Conv auto-encoder: (b, h, w, c) -> (b, latent_dim) -> (b, h, w, c).

  Encoder: three 5x5 convolutions (width, 2 width, 4 width; the first k of
  them stride 2, the rest stride 1), ReLU, then dense `hidden` -> ReLU ->
  dense `latent_dim`. Decoder: dense to the encoder's last feature map, then
  three transposed convolutions mirroring the encoder (4 width, 2 width, then
  c channels, linear output).

  Attributes:
    image_shape: (h, w, c), square.
    latent_dim: k, the latent (matching) dimension.
    width: channels of the first convolution.
    hidden: width of the encoder's first dense layer.
    kernel_size: side of the convolution kernels (5 by default, docs/method.md).
    patches: slices + matmul convolutions (see `ConvGenerator`).
  """

  image_shape: ImageShape
  latent_dim: int = 32
  width: int = 32
  hidden: int = 256
  kernel_size: int = 5
  patches: bool = False

  def _strides(self) -> Tuple[int, int, int]:
    stages = num_halvings(self.image_shape[0])
    return tuple(2 if i < stages else 1 for i in range(3))

  def setup(self):
    _check_square(self.image_shape)
    conv = functools.partial(conv_layer, kernel_size=self.kernel_size,
                             patches=self.patches)
    strides = self._strides()
    widths = (self.width, 2 * self.width, 4 * self.width)
    self.encoder_convs = [conv(w, stride=s) for w, s in zip(widths, strides)]
    self.encoder_hidden = nn.Dense(self.hidden)
    self.encoder_out = nn.Dense(self.latent_dim)
    side = self.image_shape[0] // (2 ** sum(s == 2 for s in strides))
    self._feature_shape = (side, side, widths[-1])
    self.decoder_in = nn.Dense(side * side * widths[-1])
    out_widths = (widths[1], widths[0], self.image_shape[2])
    self.decoder_deconvs = [
        conv(w, upsample=s == 2) for w, s in zip(out_widths, strides[::-1])
    ]

  def encode(self, x: jax.Array) -> jax.Array:
    """(b, h, w, c) images -> (b, latent_dim) latents."""
    for conv in self.encoder_convs:
      x = nn.relu(conv(x))
    x = x.reshape(x.shape[:-3] + (-1,))
    return self.encoder_out(nn.relu(self.encoder_hidden(x)))

  def decode(self, latents: jax.Array) -> jax.Array:
    """(b, latent_dim) latents -> (b, h, w, c) reconstructions."""
    x = nn.relu(self.decoder_in(latents))
    x = x.reshape(latents.shape[:-1] + self._feature_shape)
    for i, deconv in enumerate(self.decoder_deconvs):
      x = deconv(x)
      if i < len(self.decoder_deconvs) - 1:
        x = nn.relu(x)
    return x

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.decode(self.encode(x))
