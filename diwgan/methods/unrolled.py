"""Unrolled GAN (Metz et al., 2017): G descends through K unrolled D updates.

Generator step: starting from the current discriminator `theta_D^0`, apply K
optimizer updates of the discriminator's loss on this step's real batch and
the generated batch `G(z)`,

  theta_D^{k+1} = theta_D^k + update_k(grad L_D(theta_D^k, G(z))),

and train G on its loss against `theta_D^K`. The unroll is differentiated
(a true unroll, not a detached copy): G's gradient flows through all K
optimizer updates, including Adam's moment updates, as in the paper's
surrogate objective f_K (eq. 5) and its reference implementation. With K = 0
this is the plain GAN. The actual discriminator update of the step is the
ordinary one, done by the generic training step.

The unroll needs the discriminator optimizer's state (Adam's moments). The
generic step does not hand it to the generator loss, so the method keeps its
own copy in `method_state`: an optax state of the same optimizer, advanced
once per step by the first unrolled update. Its moments track the real
discriminator's closely (both see discriminator gradients on fresh batches
at consecutive parameters) and its count follows the same schedule when
`discriminator_steps` is 1.
"""

import dataclasses
from typing import Callable, NamedTuple, Optional, Tuple

import jax
import optax

from diwgan import losses
from diwgan.methods import adversarial
from diwgan.training import Method, Networks, Params

OBJECTIVES = ("nonsaturating", "minimax")


class UnrolledState(NamedTuple):
  """Unrolled GAN's persistent state, part of the checkpoint.

  Attributes:
    optimizer_state: state of the unroll's copy of the discriminator
      optimizer.
  """

  optimizer_state: optax.OptState


def unroll(
    discriminator_params: Params,
    optimizer_state: optax.OptState,
    loss_fn: Callable[[Params], jax.Array],
    optimizer: optax.GradientTransformation,
    *,
    num_steps: int,
    axis_name: Optional[str] = None,
) -> Tuple[Params, optax.OptState]:
  """K differentiable optimizer updates of `loss_fn` from the given params.

  Args:
    discriminator_params: the starting parameters theta_D^0.
    optimizer_state: optimizer state at theta_D^0.
    loss_fn: params -> () loss to descend; may close over values that are
      being differentiated (the generated batch), so that the result is a
      differentiable function of them.
    optimizer: the optax transformation of the updates.
    num_steps: K >= 0, static.
    axis_name: device axis to average the unrolled gradients over (as the
      generic step averages the real ones), or None.

  Returns:
    (theta_D^K, the optimizer state after the first update). With K = 0, the
    inputs unchanged.
  """
  if num_steps < 0:
    raise ValueError(f"num_steps must be >= 0, got {num_steps}.")
  if num_steps == 0:
    return discriminator_params, optimizer_state

  def update(carry, _):
    params, state = carry
    grads = jax.grad(loss_fn)(params)
    if axis_name is not None:
      grads = jax.lax.pmean(grads, axis_name)
    updates, state = optimizer.update(grads, state, params)
    return (optax.apply_updates(params, updates), state), state

  (params, _), states = jax.lax.scan(
      update, (discriminator_params, optimizer_state), None, length=num_steps)
  first_state = jax.tree.map(lambda x: x[0], states)
  return params, first_state


@dataclasses.dataclass(frozen=True)
class UnrolledGAN(Method):
  """Unrolled GAN on the networks' generator and discriminator.

  Attributes:
    optimizer: the discriminator's optax optimizer (same rate, betas and
      schedule as the trainer's), used for the K unrolled updates.
    unroll_steps: K, the number of unrolled discriminator updates (the paper
      uses 5 to 10 on the mixtures).
    objective: "nonsaturating" trains G on `-mean(log D_K(G(z)))` (the same
      generator loss as every other method here); "minimax" on `-L_D(D_K)`,
      the paper's f_K, whose real-data term also depends on G through the
      unroll.
  """

  optimizer: optax.GradientTransformation = dataclasses.field(
      default_factory=lambda: optax.adam(1e-4, b1=0.5))
  unroll_steps: int = 5
  objective: str = "nonsaturating"
  name: str = "unrolled"

  def __post_init__(self):
    if self.unroll_steps < 0:
      raise ValueError(f"unroll_steps must be >= 0, got {self.unroll_steps}.")
    if self.objective not in OBJECTIVES:
      raise ValueError(
          f"Unknown objective {self.objective!r}; valid: {OBJECTIVES}.")

  def init_state(
      self, key: jax.Array, networks: Networks, real_example: jax.Array
  ) -> UnrolledState:
    """Fresh optimizer state shaped like the discriminator parameters."""
    _, discriminator_params = self.init_params(key, networks, real_example)
    return UnrolledState(self.optimizer.init(discriminator_params))

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    fake = jax.lax.stop_gradient(
        networks.generate(generator_params, key, real.shape[0]))
    return self._discriminator_loss(discriminator_params, real, fake, networks)

  def _discriminator_loss(self, discriminator_params, real, fake, networks):
    disc = networks.discriminator.apply
    return adversarial.discriminator_loss(
        disc(discriminator_params["discriminator"], real),
        disc(discriminator_params["discriminator"], fake))

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    fake = networks.generate(generator_params, key, real.shape[0])

    def unrolled_loss(params):
      return self._discriminator_loss(params, real, fake, networks)[0]

    unrolled_params, next_optimizer_state = unroll(
        discriminator_params, method_state.optimizer_state, unrolled_loss,
        self.optimizer, num_steps=self.unroll_steps,
        axis_name=context.axis_name)
    if self.objective == "minimax":
      loss = -unrolled_loss(unrolled_params)
    else:
      loss = losses.generator_loss_nonsaturating(
          networks.discriminator.apply(
              unrolled_params["discriminator"], fake))
    new_state = UnrolledState(jax.lax.stop_gradient(next_optimizer_state))
    metrics = {
        "adversarial_loss": loss,
        "unrolled_d_loss": jax.lax.stop_gradient(
            unrolled_loss(unrolled_params)),
    }
    return loss, (metrics, new_state)
