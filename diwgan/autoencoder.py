"""Auto-encoder pretraining with the quality gate of docs/method.md (Setup, step 1).

The GAN's matching lives in the latent space of this frozen auto-encoder, so a
poor auto-encoder silently ruins the method: `check_quality` refuses it with a
message that names the measured number and the bound.
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import optax


class AutoEncoderQualityError(ValueError):
  """The auto-encoder's reconstruction error is above the configured bound."""


class AutoEncoderReport(NamedTuple):
  """What pretraining measured, on the whole data set.

  Attributes:
    mse: () mean squared reconstruction error per element.
    data_variance: () variance of the data per element (mean over features).
    relative_mse: () mse / data_variance, the gated number.
  """

  mse: jax.Array
  data_variance: jax.Array
  relative_mse: jax.Array


def reconstruction_report(
    autoencoder: nn.Module, params: Any, data: ArrayLike, *, chunk: int = 8192
) -> AutoEncoderReport:
  """Measures reconstruction error of `autoencoder` on all of `data` (n, ...)."""
  data = jnp.asarray(data, jnp.float32)
  num = data.shape[0]
  num_chunks = -(-num // chunk)
  size = -(-num // num_chunks)  # equal chunks: one compiled program

  @jax.jit
  def errors(params, data):
    padded = jnp.pad(data, [(0, num_chunks * size - num)]
                     + [(0, 0)] * (data.ndim - 1))
    chunks = padded.reshape((num_chunks, size) + data.shape[1:])
    valid = (jnp.arange(num_chunks * size) < num).reshape(num_chunks, size)

    def chunk_error(args):
      batch, mask = args
      squared = (autoencoder.apply(params, batch) - batch) ** 2
      return jnp.sum(squared.reshape(size, -1).sum(-1) * mask)

    squared = jnp.sum(jax.lax.map(chunk_error, (chunks, valid)))
    return squared, jnp.mean(jnp.var(data, axis=0))

  squared, variance = errors(params, data)
  mse = squared / data.size
  return AutoEncoderReport(
      mse=jnp.asarray(mse, jnp.float32),
      data_variance=variance,
      relative_mse=jnp.asarray(mse, jnp.float32) / variance,
  )


def check_quality(report: AutoEncoderReport, *, max_relative_mse: float) -> None:
  """Raises `AutoEncoderQualityError` unless relative MSE < the bound."""
  relative = float(report.relative_mse)
  if not relative < max_relative_mse:  # also catches NaN
    raise AutoEncoderQualityError(
        f"Auto-encoder failed its quality gate: reconstruction MSE relative to "
        f"the data variance is {relative:.4g} (MSE {float(report.mse):.4g}, "
        f"data variance {float(report.data_variance):.4g}), above the bound "
        f"max_relative_mse={max_relative_mse:g}. Train it longer "
        f"(autoencoder.steps), widen it, or raise autoencoder.latent_dim."
    )


def train_autoencoder(
    autoencoder: nn.Module,
    data: ArrayLike,
    key: jax.Array,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float = 1e-3,
) -> Any:
  """Trains `autoencoder` on `data` (n, ...) by reconstruction MSE.

  Adam with a cosine decay; minibatches drawn uniformly with replacement by
  index, so `data` is held once on the device.

  Returns:
    The trained parameters.
  """

  def sample(batch_key, num, data):
    rows = jax.random.randint(batch_key, (num,), 0, data.shape[0])
    return data[rows]

  return _fit(autoencoder, sample, key, jnp.asarray(data, jnp.float32),
              steps=steps, batch_size=batch_size, learning_rate=learning_rate)


def train_autoencoder_on_sampler(
    autoencoder: nn.Module,
    sample: Callable[[jax.Array, int], jax.Array],
    key: jax.Array,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float = 1e-3,
) -> Any:
  """Trains `autoencoder` by reconstruction MSE on batches `sample` draws.

  For data that is built per batch rather than stored (stacked images made
  from 3 random indices, uint8 images scaled on the fly).

  Args:
    autoencoder: the flax module; `apply(params, x)` reconstructs x.
    sample: (key, batch_size) -> (batch_size, ...) float batch; pure, jittable.
    key: PRNG key of the initialisation and the batches.
    steps: Adam steps (cosine decay to 0.01 x the rate).
    batch_size: rows per step.
    learning_rate: initial rate.

  Returns:
    The trained parameters.
  """
  return _fit(autoencoder, lambda batch_key, num, _: sample(batch_key, num),
              key, None, steps=steps, batch_size=batch_size,
              learning_rate=learning_rate)


def _fit(autoencoder, sample, key, data, *, steps, batch_size, learning_rate):
  """The training of both entry points as one compiled program.

  `sample(key, num, data)` draws a batch. The key and the data are the
  program's arguments, not constants in it, so every seed runs the same
  program (and loads it from the compilation cache).
  """
  schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
  tx = optax.adam(schedule)

  def loss_fn(params, batch):
    return jnp.mean((autoencoder.apply(params, batch) - batch) ** 2)

  @jax.jit
  def run(key, data):
    init_key, loop_key = jax.random.split(key)

    def step(carry, index):
      params, opt_state = carry
      batch = sample(jax.random.fold_in(loop_key, index), batch_size, data)
      loss, grads = jax.value_and_grad(loss_fn)(params, batch)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    # Initialisation inside the one compiled program (op by op it would
    # compile a program per layer).
    params = autoencoder.init(init_key, sample(loop_key, 1, data))
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)),
                                  jnp.arange(steps))
    return params

  return run(key, data)
