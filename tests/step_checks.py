"""A check shared by the training tests of every experiment family."""

import jax
import jax.numpy as jnp
import numpy as np


def train_and_check(experiment, num_steps):
  """Runs `num_steps` compiled steps and checks what every method must do.

  The step counter advances, every metric has one finite value per step,
  every generator parameter moves, and a DIW-GAN run converges its auction
  and fills one ring-buffer slot per step.

  Returns:
    (initial state, new state, metrics).
  """
  state = experiment.initial_state()
  new_state, metrics = jax.jit(
      experiment.trainer.train_steps, static_argnums=1)(state, num_steps)
  assert int(new_state.step) == num_steps
  for name, values in metrics.items():
    assert values.shape == (num_steps,), name
    assert np.all(np.isfinite(values)), name
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         state.generator_params, new_state.generator_params)
  assert all(jax.tree.leaves(changed))
  if "auction_converged" in metrics:
    assert np.all(metrics["auction_converged"] == 1.0)
    assert int(new_state.method_state.importance.count) == num_steps
  return state, new_state, metrics
