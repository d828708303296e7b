"""Fully-connected networks of the mixture experiments (docs/method.md, Training details).

G: 3 hidden layers of 128, no batch norm, no dropout; D: 2 hidden layers of
128; auto-encoder: 2-layer MLP encoder and decoder. The options of `MLP`
(batch norm, maxout, the initialiser) serve the field's other protocols
(docs/baselines.md, "Protocol presets"); their defaults are the networks
above.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class BatchStatsNorm(nn.Module):
  """Batch normalisation that always uses the statistics of its input batch.

  `(x - mean) / sqrt(var + eps) * scale + bias` over the batch axis, with a
  learned `scale` (init 1) and `bias` (init 0) per feature and no running
  averages, so the layer is a pure function of (params, batch) and needs no
  mutable `batch_stats` collection in the train state (`flax.linen.BatchNorm`
  with `use_running_average=False` is the same computation, but writes
  running averages that the generic step would have to carry). Evaluation
  therefore normalises with the statistics of the evaluation batch, unless
  fixed statistics are passed in a 'population' collection (see
  `population_statistics`); with the 'batch_moments' collection mutable the
  layer records the moments it used.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
    >>> layer = BatchStatsNorm()
    >>> y = layer.apply(layer.init(jax.random.key(0), x), x)
    >>> [round(float(v), 3) for v in y[:, 1]]
    [-1.0, 1.0]
  """

  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (features,))
    bias = self.param("bias", nn.initializers.zeros, (features,))
    if self.has_variable("population", "mean"):
      mean = self.get_variable("population", "mean")[None]
      var = self.get_variable("population", "var")[None]
    else:
      mean = jnp.mean(x, axis=0, keepdims=True)
      var = jnp.var(x, axis=0, keepdims=True)
      # Recorded only where asked for (`population_statistics`): never at
      # init, so the moments stay out of the parameters and the train state.
      if (self.is_mutable_collection("batch_moments")
          and not self.is_initializing()):
        self.sow("batch_moments", "mean", mean[0])
        self.sow("batch_moments", "var", var[0])
    return ((x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale[None]
            + bias[None])


def population_statistics(module: nn.Module, variables, inputs: jax.Array):
  """Every `BatchStatsNorm` layer's batch moments, averaged over batches.

  The population statistics of a batch-normalised network at fixed
  parameters: the mean over `inputs`' batches of each layer's batch mean
  and batch variance (the value a moving average of them settles at while
  the parameters stay put). Passed back as the 'population' collection,
  they normalise every batch with the same moments, as inference-mode
  batch norm does.

  Args:
    module: the network (e.g. an `MLPGenerator` with `batch_norm=True`).
    variables: its variables ({'params': ...}).
    inputs: (batches, b, ...) inputs, one training-size batch per row.

  Returns:
    {'population': {...}} for `module.apply({**variables, **result}, x)`;
    {'population': {}} when the network has no batch-norm layer.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> g = MLPGenerator(2, (4,), batch_norm=True)
    >>> z = jax.random.normal(jax.random.key(0), (3, 8, 16))
    >>> v = g.init(jax.random.key(1), z[0])
    >>> stats = population_statistics(g, v, z)
    >>> x = g.apply({**v, **stats}, z[0])  # z[0] normalised like any batch
    >>> x.shape
    (8, 2)
  """
  def moments(batch):
    _, recorded = module.apply(variables, batch, mutable=["batch_moments"])
    # `sow` keeps a tuple per name (one entry per call of the layer).
    return jax.tree.map(lambda values: values[0],
                        recorded.get("batch_moments", {}),
                        is_leaf=lambda leaf: isinstance(leaf, tuple))

  per_batch = jax.vmap(moments)(inputs)
  return {"population": jax.tree.map(lambda m: jnp.mean(m, axis=0),
                                     per_batch)}


class MLP(nn.Module):
  """ReLU (or maxout) MLP with a linear output layer.

  Attributes:
    hidden: widths of the hidden layers.
    out_dim: width of the output layer.
    batch_norm: normalise every hidden layer with its batch statistics
      (`BatchStatsNorm`) before the activation; its Dense has no bias then.
    maxout_pieces: k > 1 makes every hidden layer a maxout unit: a Dense of
      k x width outputs, the max over each unit's k pieces (no ReLU).
    init_std: > 0 draws every kernel from N(0, init_std^2) and zero biases;
      0 keeps flax's defaults (LeCun normal kernels, zero biases).
  """

  hidden: Sequence[int]
  out_dim: int
  batch_norm: bool = False
  maxout_pieces: int = 1
  init_std: float = 0.0

  def _dense(self, width: int, use_bias: bool = True) -> nn.Dense:
    if self.init_std > 0:
      return nn.Dense(width, use_bias=use_bias,
                      kernel_init=nn.initializers.normal(self.init_std))
    return nn.Dense(width, use_bias=use_bias)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.maxout_pieces < 1:
      raise ValueError(
          f"maxout_pieces must be >= 1, got {self.maxout_pieces}.")
    for width in self.hidden:
      if self.maxout_pieces > 1:
        x = self._dense(width * self.maxout_pieces)(x)
        x = jnp.max(x.reshape(*x.shape[:-1], width, self.maxout_pieces),
                    axis=-1)
        continue
      x = self._dense(width, use_bias=not self.batch_norm)(x)
      if self.batch_norm:
        x = BatchStatsNorm()(x)
      x = nn.relu(x)
    return self._dense(self.out_dim)(x)


class MLPGenerator(nn.Module):
  """Maps noise (b, noise_dim) to samples (b, data_dim)."""

  data_dim: int
  hidden: Sequence[int] = (128, 128, 128)
  batch_norm: bool = False
  init_std: float = 0.0

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    return MLP(self.hidden, self.data_dim, batch_norm=self.batch_norm,
               init_std=self.init_std)(z)


class MLPDiscriminator(nn.Module):
  """Maps samples (b, data_dim) to logits (b,)."""

  hidden: Sequence[int] = (128, 128)
  maxout_pieces: int = 1
  init_std: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return MLP(self.hidden, 1, maxout_pieces=self.maxout_pieces,
               init_std=self.init_std)(x)[..., 0]


class MLPAutoEncoder(nn.Module):
  """Encoder (b, d) -> (b, latent_dim) and decoder back, 2 layers each."""

  data_dim: int
  latent_dim: int = 8
  hidden: int = 128

  def setup(self):
    self.encoder = MLP((self.hidden,), self.latent_dim)
    self.decoder = MLP((self.hidden,), self.data_dim)

  def encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(x)

  def decode(self, latents: jax.Array) -> jax.Array:
    return self.decoder(latents)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.decode(self.encode(x))
