import jax
import jax.numpy as jnp
import numpy as np

from diwgan import losses


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def test_gan_losses_match_numpy_formulas():
  rng = np.random.default_rng(0)
  real = rng.normal(size=16).astype(np.float32)
  fake = rng.normal(size=16).astype(np.float32)
  d_expected = -np.mean(np.log(_sigmoid(real))) - np.mean(np.log(1 - _sigmoid(fake)))
  np.testing.assert_allclose(losses.discriminator_loss(real, fake), d_expected, rtol=1e-5)
  np.testing.assert_allclose(
      losses.generator_loss_nonsaturating(fake), -np.mean(np.log(_sigmoid(fake))), rtol=1e-5)
  np.testing.assert_allclose(
      losses.generator_loss_saturating(fake), np.mean(np.log(1 - _sigmoid(fake))), rtol=1e-5)


def test_losses_stable_for_extreme_logits(debug_nans):
  logits = jnp.array([-1e4, 1e4])
  assert np.isfinite(losses.discriminator_loss(logits, logits))
  assert np.isfinite(jax.grad(losses.generator_loss_nonsaturating)(logits)).all()


def test_matched_distance_loss_hand_checked():
  cost = jnp.array([[1.0, 4.0, 2.0], [3.0, 0.5, 6.0], [2.0, 2.0, 9.0]])
  assignment = jnp.array([2, 1, 0])
  target = jnp.array([1.0, 2.0, 0.0])
  generator = jnp.array([0.5, 1.0, 3.0])
  # rows: 1*w_g[2]*2 = 6, 2*w_g[1]*0.5 = 1, 0 -> mean 7/3
  got = losses.matched_distance_loss(
      cost, assignment, target_weights=target, generator_weights=generator)
  np.testing.assert_allclose(got, 7.0 / 3.0, rtol=1e-6)
  np.testing.assert_allclose(
      losses.matched_distance_loss(cost, assignment), (2 + 0.5 + 2) / 3, rtol=1e-6)


def test_gradient_flows_only_through_matched_costs():
  cost = jnp.array([[1.0, 4.0], [3.0, 0.5]])
  weights = jnp.array([2.0, 1.0])

  def loss(cost, weights):
    return losses.matched_distance_loss(
        cost, jnp.array([0, 1]), target_weights=weights, generator_weights=weights)

  grad_cost, grad_weights = jax.grad(loss, argnums=(0, 1))(cost, weights)
  np.testing.assert_allclose(grad_cost, [[2.0, 0.0], [0.0, 0.5]])
  np.testing.assert_allclose(grad_weights, [0.0, 0.0])
