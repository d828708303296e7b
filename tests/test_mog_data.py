"""Tests for diwgan.data.mog."""

import chex
import jax
import numpy as np
import pytest

from diwgan.data import mog

_EXPECTED = {
    # name: (modes, dim, isotropic std or None)
    "ring": (8, 2, 0.01),
    "grid": (25, 2, 0.05),
    "random_grid": (25, 2, None),
    "cube": (27, 3, 0.05),
}


def test_names():
  assert set(mog.MIXTURES) == set(_EXPECTED)


@pytest.mark.parametrize("name", mog.MIXTURES)
def test_shapes_and_weights(name):
  num_modes, dim, std = _EXPECTED[name]
  mixture = mog.make_mixture(name)
  chex.assert_shape(mixture.means, (num_modes, dim))
  chex.assert_shape(mixture.covariances, (num_modes, dim, dim))
  chex.assert_shape(mixture.weights, (num_modes,))
  np.testing.assert_allclose(mixture.weights, 1.0 / num_modes)
  covariances = np.asarray(mixture.covariances, np.float64)
  np.testing.assert_allclose(covariances, covariances.transpose(0, 2, 1))
  assert np.all(np.linalg.eigvalsh(covariances) > 0)
  if std is not None:
    np.testing.assert_allclose(
        covariances, np.broadcast_to(std**2 * np.eye(dim), covariances.shape),
        rtol=1e-6,
    )
  # All modes distinct and well separated.
  means = np.asarray(mixture.means)
  gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
  assert np.min(gaps + np.eye(num_modes) * 1e9) > 0.5


def test_ring_has_eight_distinct_angles_on_unit_circle():
  means = np.asarray(mog.make_mixture("ring").means, np.float64)
  np.testing.assert_allclose(np.linalg.norm(means, axis=-1), 1.0, rtol=1e-6)
  angles = np.sort(np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-6)


def test_grid_and_cube_centres():
  grid = {tuple(m) for m in np.asarray(mog.make_mixture("grid").means)}
  axis = (-4.0, -2.0, 0.0, 2.0, 4.0)
  assert grid == {(x, y) for x in axis for y in axis}
  cube = {tuple(m) for m in np.asarray(mog.make_mixture("cube").means)}
  axis = (-2.0, 0.0, 2.0)
  assert cube == {(x, y, z) for x in axis for y in axis for z in axis}


def test_random_grid_recipe_and_determinism():
  first = mog.make_mixture("random_grid")
  second = mog.make_mixture("random_grid")
  chex.assert_trees_all_equal(first, second)
  grid = np.asarray(mog.make_mixture("grid").means)
  jitter = np.asarray(first.means) - grid
  assert np.all(np.abs(jitter) <= 0.5)
  stds = np.sqrt(np.linalg.eigvalsh(np.asarray(first.covariances, np.float64)))
  assert np.all((stds >= 0.03 - 1e-6) & (stds <= 0.1 + 1e-6))
  # Anisotropic and rotated: off-diagonal terms are not all zero.
  assert np.max(np.abs(np.asarray(first.covariances)[:, 0, 1])) > 1e-4
  # The documented recipe, replayed.
  rng = np.random.default_rng(mog.RANDOM_GRID_SEED)
  np.testing.assert_allclose(
      first.means, grid + rng.uniform(-0.5, 0.5, size=(25, 2)), rtol=1e-6
  )


@pytest.mark.parametrize("name", mog.MIXTURES)
def test_samples_per_mode_have_mode_mean_and_covariance(name):
  mixture = mog.make_mixture(name)
  num_samples = 50_000
  samples = jax.jit(mog.sample_mixture, static_argnums=2)(
      mixture, jax.random.key(0), num_samples
  )
  chex.assert_shape(samples, (num_samples, mixture.means.shape[1]))
  samples = np.asarray(samples, np.float64)
  means = np.asarray(mixture.means, np.float64)
  covariances = np.asarray(mixture.covariances, np.float64)
  # Modes are > 10 std apart, so the nearest mean recovers the component.
  nearest = np.argmin(
      np.linalg.norm(samples[:, None] - means[None], axis=-1), axis=-1
  )
  counts = np.bincount(nearest, minlength=len(means))
  expected_count = num_samples / len(means)
  # Equal weights: multinomial counts within 5 binomial sigmas.
  assert np.all(np.abs(counts - expected_count) < 5 * np.sqrt(expected_count))
  for mode in range(len(means)):
    members = samples[nearest == mode]
    std = np.sqrt(np.max(np.diag(covariances[mode])))
    np.testing.assert_allclose(
        members.mean(0), means[mode], atol=5 * std / np.sqrt(len(members))
    )
    np.testing.assert_allclose(
        np.cov(members.T), covariances[mode], atol=0.2 * std**2
    )


def test_sampling_is_deterministic_per_key():
  mixture = mog.make_mixture("ring")
  first = mog.sample_mixture(mixture, jax.random.key(3), 100)
  second = mog.sample_mixture(mixture, jax.random.key(3), 100)
  other = mog.sample_mixture(mixture, jax.random.key(4), 100)
  np.testing.assert_array_equal(first, second)
  assert not np.allclose(first, other)


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match="ring, grid, random_grid, cube"):
    mog.make_mixture("spiral")
