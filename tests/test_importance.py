import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diwgan import importance


def _filled_state(rng, history=3, batch=16, dim=2, steps=2):
  state = importance.init_importance_state(history, batch, dim)
  for _ in range(steps):
    state = importance.update_importance_state(
        state, rng.normal(size=(batch, dim)).astype(np.float32),
        rng.uniform(size=batch).astype(np.float32))
  return state


def test_ring_buffer_overwrites_oldest():
  state = importance.init_importance_state(2, 3, 1)
  for t in range(3):
    state = importance.update_importance_state(
        state, jnp.full((3, 1), float(t)), jnp.full((3,), float(t)))
  assert int(state.count) == 2
  assert int(state.position) == 1
  # slot 0 was overwritten by step 2, slot 1 holds step 1.
  np.testing.assert_array_equal(state.distances[:, 0], [2.0, 1.0])


def test_weights_are_ones_while_buffer_empty():
  state = importance.init_importance_state(4, 8, 3)
  latents = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
  np.testing.assert_array_equal(importance.generator_weights(latents, state), np.ones(8))
  np.testing.assert_array_equal(importance.target_weights(state), np.ones(8))


def test_generator_weights_proportional_to_scipy_kde_density():
  rng = np.random.default_rng(0)
  state = _filled_state(rng, history=3, batch=64, steps=2)  # one slot still empty
  latents = rng.normal(size=(64, 2)).astype(np.float32)
  filled = np.asarray(state.latents[:2]).reshape(-1, 2)
  density = stats.gaussian_kde(filled.T.astype(np.float64)).pdf(latents.T)
  expected = density / density.mean()
  got = importance.generator_weights(latents, state)
  np.testing.assert_allclose(got, expected, rtol=2e-3)
  np.testing.assert_allclose(np.mean(got), 1.0, rtol=1e-5)


def test_generator_weights_of_far_latents():
  """One far latent: weight 0, as its relative density underflows to; every
  latent far: uniform weights, not NaN."""
  rng = np.random.default_rng(2)
  state = _filled_state(rng, history=2, batch=32, steps=2)
  latents = rng.normal(size=(32, 2)).astype(np.float32)
  # A latent well inside the buffer's radius but far from every point:
  # between the cloud and a distant copy of it.
  far_state = importance.update_importance_state(
      state, np.asarray(state.latents[0]) + 1e3, np.ones(32, np.float32))
  # (A small fixed bandwidth factor: under Scott's rule two clusters alone
  # widen the kernel to about their gap.)
  got = np.asarray(importance.generator_weights(
      np.concatenate([latents[:31], [[500.0, 500.0]]]).astype(np.float32),
      far_state, bandwidth=0.01))
  assert got[-1] == 0.0 and np.all(np.isfinite(got))
  np.testing.assert_allclose(np.mean(got), 1.0, rtol=1e-5)
  everything_far = np.full((32, 2), 500.0, np.float32) + latents * 1e-3
  np.testing.assert_array_equal(importance.generator_weights(
      everything_far, far_state, bandwidth=0.01), np.ones(32))


def test_target_weights_are_normalised_mean_distance():
  rng = np.random.default_rng(1)
  state = _filled_state(rng, history=4, batch=8, steps=3)
  mean_distance = np.asarray(state.distances[:3]).mean(axis=0)
  np.testing.assert_allclose(
      importance.target_weights(state), mean_distance / mean_distance.mean(), rtol=1e-5)


def test_exponent_and_clip():
  weights = jnp.array([1.0, 2.0, 3.0, 10.0])
  squared = importance.shape_weights(weights, exponent=2.0)
  np.testing.assert_allclose(squared, np.array([1, 4, 9, 100]) / 28.5, rtol=1e-6)
  clipped = importance.shape_weights(weights, clip=(0.5, 1.5))
  assert np.isclose(np.mean(clipped), 1.0)
  base = np.array([1, 2, 3, 10]) / 4.0
  expected = np.clip(base, 0.5, 1.5)
  np.testing.assert_allclose(clipped, expected / expected.mean(), rtol=1e-6)


def test_weights_jit_and_no_gradient():
  rng = np.random.default_rng(2)
  state = _filled_state(rng)
  latents = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
  jitted = jax.jit(importance.generator_weights)(latents, state)
  np.testing.assert_allclose(jitted, importance.generator_weights(latents, state), rtol=1e-5)
  grad = jax.grad(lambda x: importance.generator_weights(x, state).sum())(latents)
  np.testing.assert_array_equal(grad, np.zeros_like(latents))


def test_history_must_be_positive():
  with pytest.raises(ValueError, match="history"):
    importance.init_importance_state(0, 4, 2)
