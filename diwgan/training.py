"""One train state and one training step for every method.

The step is generic: a `Method` supplies the discriminator and generator
losses, its extra networks (inside the parameter pytrees) and its extra state
(`method_state`, e.g. DIW-GAN's anchors and ring buffers). This module owns the
optimizers, the key discipline, the scan over steps and the cross-device
gradient averaging, so no method writes its own training loop.

Under a device axis (`Trainer.axis_name`, set by `diwgan.parallel`) every
device draws the noise and real data of the whole global batch from the same
step key and keeps its own rows (`local_rows`), so N devices see exactly the
samples one device would, and the step equals the one-device step up to the
order of float32 reductions.
"""

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import flax.linen as nn
from flax import struct
import jax
import jax.numpy as jnp
import optax

Params = Any
Metrics = Dict[str, jax.Array]
# (key, batch_size) -> real batch (batch_size, ...)
SampleReal = Callable[[jax.Array, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Networks:
  """The generator and discriminator of a run, and how noise is drawn.

  Attributes:
    generator: flax module, noise (b, noise_dim) -> samples (b, ...).
    discriminator: flax module, samples (b, ...) -> logits (b,).
    noise_dim: dimension of z ~ N(0, I).
    axis_name: device axis the noise is sharded over, or None. The trainer
      sets it for the networks its methods see under a device axis.
  """

  generator: nn.Module
  discriminator: nn.Module
  noise_dim: int
  axis_name: Optional[str] = None

  def sample_noise(self, key: jax.Array, batch_size: int) -> jax.Array:
    """(batch_size, noise_dim) noise; this device's rows under a device axis.

    Under `axis_name`, `batch_size` is the per-device batch: the noise of the
    whole global batch (batch_size x devices rows) is drawn from `key`, the
    same on every device, and this device keeps its rows, so the samples do
    not depend on the number of devices. Drawing the global batch costs
    batch_size x devices x noise_dim normals per device, negligible next to
    the networks.
    """
    return sample_rows(
        lambda key, num: jax.random.normal(
            key, (num, self.noise_dim), jnp.float32),
        key, batch_size, self.axis_name)

  def generate(self, generator_params: Params, key: jax.Array, num: int):
    """Samples `num` outputs of G; `generator_params` holds a 'generator' key."""
    return self.generator.apply(
        generator_params["generator"], self.sample_noise(key, num)
    )


def local_rows(batch: jax.Array, axis_name: str) -> jax.Array:
  """This device's contiguous block of rows of a global batch.

  Args:
    batch: (B, ...) the global batch, the same on every device.
    axis_name: the device axis; B must be a multiple of its size.

  Returns:
    (B / devices, ...) rows `[i * B / devices, (i + 1) * B / devices)` of
    device `i`, the order in which `all_gather(..., tiled=True)` reassembles
    them.
  """
  num_devices = jax.lax.axis_size(axis_name)
  if batch.shape[0] % num_devices:
    raise ValueError(
        f"The global batch of {batch.shape[0]} rows does not split over "
        f"{num_devices} devices; use a batch size that is a multiple of the "
        f"device count."
    )
  size = batch.shape[0] // num_devices
  return jax.lax.dynamic_slice_in_dim(
      batch, jax.lax.axis_index(axis_name) * size, size)


def sample_rows(
    sample: Callable[[jax.Array, int], jax.Array],
    key: jax.Array,
    batch_size: int,
    axis_name: Optional[str] = None,
) -> jax.Array:
  """`sample(key, batch_size)`, or this device's rows of the global batch.

  Methods that draw per-example randomness of their own (reparameterisation
  noise, input noise) draw it through this, with `context.axis_name`, so
  that N devices draw what one device would: the same key gives every device
  the same global draw, of which each keeps its rows.

  Args:
    sample: (key, num) -> (num, ...) pure sampler.
    key: the same key on every device.
    batch_size: rows of this device (the global batch without an axis).
    axis_name: the device axis, or None.

  Returns:
    (batch_size, ...) samples.
  """
  if axis_name is None:
    return sample(key, batch_size)
  num_devices = jax.lax.axis_size(axis_name)
  return local_rows(sample(key, batch_size * num_devices), axis_name)


class StepContext(struct.PyTreeNode):
  """What a method's losses see of the current step besides parameters.

  Attributes:
    step: () int32 global step.
    axis_name: mapped axis over devices, or None on one device (static).
  """

  step: jax.Array
  axis_name: Optional[str] = struct.field(pytree_node=False, default=None)


class Method:
  """Interface of a training method: losses, extra networks, extra state.

  `generator_params` and `discriminator_params` are dicts; the generic step
  differentiates each loss with respect to the whole dict, so a method adds
  its own networks there (a reconstructor on the generator side, say).
  """

  name: str = "method"

  def init_params(
      self, key: jax.Array, networks: Networks, real_example: jax.Array
  ) -> Tuple[Params, Params]:
    """Returns (generator_params, discriminator_params) dicts."""
    g_key, d_key = jax.random.split(key)
    noise = networks.sample_noise(g_key, 1)
    return (
        {"generator": networks.generator.init(g_key, noise)},
        {"discriminator": networks.discriminator.init(d_key, real_example)},
    )

  def discriminator_loss(
      self,
      discriminator_params: Params,
      generator_params: Params,
      method_state: Any,
      real: jax.Array,
      key: jax.Array,
      context: StepContext,
      networks: Networks,
  ) -> Tuple[jax.Array, Metrics]:
    raise NotImplementedError

  def generator_loss(
      self,
      generator_params: Params,
      discriminator_params: Params,
      method_state: Any,
      real: jax.Array,
      key: jax.Array,
      context: StepContext,
      networks: Networks,
  ) -> Tuple[jax.Array, Tuple[Metrics, Any]]:
    """Returns (loss, (metrics, new_method_state))."""
    raise NotImplementedError


class TrainState(struct.PyTreeNode):
  """Everything a run needs to continue: the checkpointed pytree.

  Attributes:
    step: () int32 number of completed steps.
    key: the run's PRNG key; step t uses `fold_in(key, t)`.
    generator_params: dict with 'generator' (and method extras).
    discriminator_params: dict with 'discriminator' (and method extras).
    generator_opt_state: optax state of the generator side.
    discriminator_opt_state: optax state of the discriminator side.
    method_state: the method's persistent pytree (anchors, buffers, ...).
  """

  step: jax.Array
  key: jax.Array
  generator_params: Params
  discriminator_params: Params
  generator_opt_state: optax.OptState
  discriminator_opt_state: optax.OptState
  method_state: Any


@dataclasses.dataclass(frozen=True)
class Trainer:
  """A method, its networks, optimizers and real-data sampler, bound together.

  Attributes:
    networks: generator and discriminator.
    method: the training method.
    generator_optimizer: optax transformation of the generator side.
    discriminator_optimizer: optax transformation of the discriminator side.
    sample_real: (key, batch_size) -> real batch; pure, jittable.
    batch_size: global batch size B (all devices together); each device of
      the axis holds B / devices rows.
    discriminator_steps: discriminator updates per generator update.
    simultaneous: the generator's gradient is taken against the
      discriminator of the start of the step (both players update from the
      same point, as in the ALI/PacGAN code) instead of the one just updated
      (alternating updates, the default).
    shared_draws: the generator's loss gets the real batch and the loss
      key of the last discriminator update instead of its own (the
      ALI/PacGAN code computes both players' losses from one x and one z);
      the noise is then the same where the method draws it from the loss
      key alike in both losses.
    axis_name: name of the device axis when the step runs under shard_map
      (see `diwgan.parallel`); gradients and metrics are averaged over it,
      and noise and real data are the global batch's rows of this device.
      None on one device.
  """

  networks: Networks
  method: Method
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  sample_real: SampleReal
  batch_size: int
  discriminator_steps: int = 1
  simultaneous: bool = False
  shared_draws: bool = False
  axis_name: Optional[str] = None

  def init(self, key: jax.Array, method_state: Any = ()) -> TrainState:
    """Initial train state; `key` seeds both the parameters and the run."""
    init_key, run_key, real_key = jax.random.split(key, 3)
    real_example = self.sample_real(real_key, 1)
    g_params, d_params = self.method.init_params(
        init_key, self.networks, real_example
    )
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        key=run_key,
        generator_params=g_params,
        discriminator_params=d_params,
        generator_opt_state=self.generator_optimizer.init(g_params),
        discriminator_opt_state=self.discriminator_optimizer.init(d_params),
        method_state=method_state,
    )

  def _mean_over_devices(self, tree):
    # Each device differentiates mean(its rows) + the global DIW term; the
    # transpose of the all_gather in the DIW term sums every device's
    # (identical) cotangent into each device's rows, so the mean over devices
    # of these gradients is exactly the one-device gradient of the global
    # loss. This needs the pmap-style collectives of `shard_map(...,
    # check_vma=False)`, see `diwgan.parallel`.
    if self.axis_name is None:
      return tree
    return jax.lax.pmean(tree, self.axis_name)

  def _sample_real(self, key: jax.Array) -> jax.Array:
    """The real batch of this device: the global batch's rows under an axis."""
    real = self.sample_real(key, self.batch_size)
    if self.axis_name is None:
      return real
    return local_rows(real, self.axis_name)

  def step(self, state: TrainState) -> Tuple[TrainState, Metrics]:
    """One generator step preceded by `discriminator_steps` D steps."""
    # The same key on every device: each draws the global batch and keeps its
    # rows, so the samples do not depend on the device count.
    step_key = jax.random.fold_in(state.key, state.step)
    d_keys_key, g_key, g_real_key = jax.random.split(step_key, 3)
    context = StepContext(step=state.step, axis_name=self.axis_name)
    networks = self.networks
    if self.axis_name is not None:
      networks = dataclasses.replace(networks, axis_name=self.axis_name)

    def discriminator_update(carry, key):
      d_params, d_opt_state = carry
      real_key, loss_key = jax.random.split(key)
      real = self._sample_real(real_key)
      (loss, metrics), grads = jax.value_and_grad(
          self.method.discriminator_loss, has_aux=True
      )(d_params, state.generator_params, state.method_state, real, loss_key,
        context, networks)
      grads = self._mean_over_devices(grads)
      updates, d_opt_state = self.discriminator_optimizer.update(
          grads, d_opt_state, d_params
      )
      return (optax.apply_updates(d_params, updates), d_opt_state), (
          loss, metrics)

    d_keys = jax.random.split(d_keys_key, self.discriminator_steps)
    (d_params, d_opt_state), (d_losses, d_metrics) = jax.lax.scan(
        discriminator_update,
        (state.discriminator_params, state.discriminator_opt_state),
        d_keys,
    )

    if self.shared_draws:
      # The last D update's keys: the same real rows, and the same z where
      # a method's two losses draw their noise from the loss key alike
      # (PacGAN, GNE, the Unrolled GAN; docs/baselines.md).
      g_real_key, g_key = jax.random.split(d_keys[-1])
    real = self._sample_real(g_real_key)
    g_sees = state.discriminator_params if self.simultaneous else d_params
    (g_loss, (g_metrics, method_state)), g_grads = jax.value_and_grad(
        self.method.generator_loss, has_aux=True
    )(state.generator_params, g_sees, state.method_state, real, g_key,
      context, networks)
    g_grads = self._mean_over_devices(g_grads)
    updates, g_opt_state = self.generator_optimizer.update(
        g_grads, state.generator_opt_state, state.generator_params
    )
    g_params = optax.apply_updates(state.generator_params, updates)

    metrics = {
        "d_loss": d_losses[-1],
        "g_loss": g_loss,
        **{k: v[-1] for k, v in d_metrics.items()},
        **g_metrics,
    }
    metrics = self._mean_over_devices(metrics)
    new_state = state.replace(
        step=state.step + 1,
        generator_params=g_params,
        discriminator_params=d_params,
        generator_opt_state=g_opt_state,
        discriminator_opt_state=d_opt_state,
        method_state=method_state,
    )
    return new_state, metrics

  def train_steps(
      self, state: TrainState, num_steps: int
  ) -> Tuple[TrainState, Metrics]:
    """`num_steps` steps under `lax.scan`; metrics stacked on a leading axis."""

    def body(state, _):
      return self.step(state)

    return jax.lax.scan(body, state, None, length=num_steps)


def make_optimizer(
    learning_rate: float,
    *,
    num_steps: int,
    b1: float = 0.5,
    b2: float = 0.999,
    decay: str = "cosine",
    final_fraction: float = 0.05,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
  """Adam with an optional cosine decay to `final_fraction` x the rate.

  Args:
    learning_rate: initial rate.
    num_steps: length of the decay (the run's generator steps; the
      discriminator's schedule counts its own updates).
    b1: Adam beta1 (0.5, the GAN default of docs/method.md, Training details).
    b2: Adam beta2.
    decay: "cosine" or "constant".
    final_fraction: rate at the end of the cosine as a fraction of the start.
    eps_root: added inside Adam's square root (`optax.adam`); > 0 only for
      an optimizer that is differentiated through (Unrolled GAN's unroll).
  """
  if decay == "cosine":
    schedule = optax.cosine_decay_schedule(
        learning_rate, max(num_steps, 1), alpha=final_fraction
    )
  elif decay == "constant":
    schedule = optax.constant_schedule(learning_rate)
  else:
    raise ValueError(f"Unknown decay {decay!r}; valid: 'cosine', 'constant'.")
  return optax.adam(schedule, b1=b1, b2=b2, eps_root=eps_root)
