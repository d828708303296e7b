"""Tests for diwgan.metrics.mog against a numpy/scipy reference."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import distance

from diwgan.data import mog as mog_data
from diwgan.metrics import mog


def _reference(samples, mixture, hq_std=3.0, strict_threshold=20):
  """numpy/scipy reference of `mixture_metrics`."""
  samples = np.asarray(samples, np.float64)
  means = np.asarray(mixture.means, np.float64)
  precisions = np.linalg.inv(np.asarray(mixture.covariances, np.float64))
  diffs = samples[:, None, :] - means[None]
  distances = np.sqrt(np.einsum("nki,kij,nkj->nk", diffs, precisions, diffs))
  nearest = np.argmin(distances, axis=-1)
  high_quality = distances.min(-1) <= hq_std
  num_modes = len(means)
  counts = np.bincount(
      np.where(high_quality, nearest, num_modes), minlength=num_modes + 1
  )
  real = np.append(np.asarray(mixture.weights, np.float64), 0.0)
  jsd = distance.jensenshannon(counts / counts.sum(), real, base=np.e) ** 2
  return dict(
      modes=np.sum(counts[:-1] >= 1),
      strict_modes=np.sum(counts[:-1] >= strict_threshold),
      hqs=high_quality.mean(),
      jsd=jsd,
      counts=counts,
  )


def _assert_matches(metrics, expected):
  assert int(metrics.modes) == expected["modes"]
  assert int(metrics.strict_modes) == expected["strict_modes"]
  np.testing.assert_allclose(metrics.hqs, expected["hqs"], atol=1e-6)
  np.testing.assert_allclose(metrics.jsd, expected["jsd"], atol=1e-5)
  np.testing.assert_array_equal(metrics.counts, expected["counts"])


@pytest.mark.parametrize("name", mog_data.MIXTURES)
@pytest.mark.parametrize("spread", [1.0, 4.0])
def test_matches_reference_on_noisy_samples(name, spread):
  mixture = mog_data.make_mixture(name)
  key_samples, key_noise = jax.random.split(jax.random.key(0))
  samples = mog_data.sample_mixture(mixture, key_samples, 2500)
  # Inflate the spread so some samples fall outside 3 std; drop some modes.
  origin = mixture.means[0:1]
  samples = origin + spread * (samples - origin)
  samples = samples[: 2500 - 300]
  samples = jnp.concatenate(
      [samples, jax.random.uniform(key_noise, (300, samples.shape[1])) * 3]
  )
  metrics = jax.jit(mog.mixture_metrics)(samples, mixture)
  chex.assert_shape(metrics.counts, (mixture.means.shape[0] + 1,))
  assert metrics.modes.dtype == jnp.int32
  _assert_matches(metrics, _reference(samples, mixture))


def test_samples_on_every_mode():
  mixture = mog_data.make_mixture("grid")
  samples = jnp.tile(mixture.means, (40, 1))  # 40 per mode, balanced
  metrics = mog.mixture_metrics(samples, mixture)
  assert int(metrics.modes) == 25
  assert int(metrics.strict_modes) == 25
  np.testing.assert_allclose(metrics.hqs, 1.0)
  np.testing.assert_allclose(metrics.jsd, 0.0, atol=1e-6)
  np.testing.assert_array_equal(metrics.counts, [40] * 25 + [0])


def test_all_samples_on_one_mode():
  mixture = mog_data.make_mixture("ring")
  samples = jnp.tile(mixture.means[3:4], (100, 1)) + 0.005
  metrics = mog.mixture_metrics(samples, mixture)
  assert int(metrics.modes) == 1
  assert int(metrics.strict_modes) == 1
  np.testing.assert_allclose(metrics.hqs, 1.0)
  np.testing.assert_array_equal(metrics.counts, [0, 0, 0, 100, 0, 0, 0, 0, 0])
  _assert_matches(metrics, _reference(samples, mixture))


def test_all_samples_far_away():
  mixture = mog_data.make_mixture("cube")
  samples = jnp.full((50, 3), 10.0)
  metrics = mog.mixture_metrics(samples, mixture)
  assert int(metrics.modes) == 0
  assert int(metrics.strict_modes) == 0
  np.testing.assert_allclose(metrics.hqs, 0.0)
  np.testing.assert_allclose(metrics.jsd, np.log(2.0), rtol=1e-6)
  assert int(metrics.counts[-1]) == 50


def test_strict_threshold_and_hq_std():
  mixture = mog_data.make_mixture("ring")
  # 19 samples on mode 0, 20 on mode 1, 2 std off mode 2 (5 samples).
  samples = jnp.concatenate([
      jnp.tile(mixture.means[0:1], (19, 1)),
      jnp.tile(mixture.means[1:2], (20, 1)),
      jnp.tile(mixture.means[2:3] + jnp.array([[0.02, 0.0]]), (5, 1)),
  ])
  metrics = mog.mixture_metrics(samples, mixture)
  assert int(metrics.modes) == 3
  assert int(metrics.strict_modes) == 1
  metrics = mog.mixture_metrics(samples, mixture, strict_threshold=19)
  assert int(metrics.strict_modes) == 2
  # At hq_std = 1.5 the samples 2 std off mode 2 are no longer HQ.
  metrics = mog.mixture_metrics(samples, mixture, hq_std=1.5)
  assert int(metrics.modes) == 2
  np.testing.assert_allclose(metrics.hqs, 39 / 44, rtol=1e-6)
  _assert_matches(metrics, _reference(samples, mixture, hq_std=1.5))


def test_mahalanobis_disagrees_with_euclidean():
  # Mode 0 is long along x (std 1.0 x 0.01), mode 1 is round (std 0.1).
  mixture = mog_data.Mixture(
      means=jnp.array([[0.0, 0.0], [1.5, 0.0]]),
      covariances=jnp.array([np.diag([1.0, 1e-4]), np.diag([1e-2, 1e-2])]),
      weights=jnp.array([0.5, 0.5]),
  )
  # Euclidean-nearest to mode 1 (0.6 < 0.9), but 0.9 std from mode 0 and
  # 6 std from mode 1.
  samples = jnp.array([[0.9, 0.0]])
  metrics = mog.mixture_metrics(samples, mixture)
  np.testing.assert_array_equal(metrics.counts, [1, 0, 0])
  distances = mog.mahalanobis_distances(samples, mixture)
  np.testing.assert_allclose(distances, [[0.9, 6.0]], rtol=1e-5)
  # A point off mode 0's thin axis is not HQ, although euclidean-close.
  samples = jnp.array([[0.0, 0.05]])  # 5 std of mode 0 in y
  metrics = mog.mixture_metrics(samples, mixture)
  np.testing.assert_array_equal(metrics.counts, [0, 0, 1])
  _assert_matches(metrics, _reference(samples, mixture))


def test_random_grid_matches_reference():
  mixture = mog_data.make_mixture("random_grid")
  rng = np.random.default_rng(1)
  samples = rng.uniform(-5, 5, size=(3000, 2)).astype(np.float32)
  samples[:1000] = np.asarray(
      mog_data.sample_mixture(mixture, jax.random.key(2), 1000)
  )
  _assert_matches(
      mog.mixture_metrics(samples, mixture), _reference(samples, mixture)
  )


def test_jensen_shannon_against_scipy():
  rng = np.random.default_rng(3)
  for _ in range(5):
    p, q = rng.dirichlet(np.ones(6), size=2)
    p[rng.integers(6)] = 0.0
    p /= p.sum()
    np.testing.assert_allclose(
        mog.jensen_shannon(jnp.asarray(p), jnp.asarray(q)),
        distance.jensenshannon(p, q, base=np.e) ** 2,
        rtol=1e-5,
    )


def test_vmap_over_seeds():
  mixture = mog_data.make_mixture("ring")
  keys = jax.random.split(jax.random.key(5), 3)
  samples = jax.vmap(lambda k: mog_data.sample_mixture(mixture, k, 500))(keys)
  metrics = jax.jit(jax.vmap(mog.mixture_metrics, in_axes=(0, None)))(
      samples, mixture
  )
  chex.assert_shape(metrics.counts, (3, 9))
  for row, batch in enumerate(samples):
    _assert_matches(
        jax.tree.map(lambda x, row=row: x[row], metrics),
        _reference(batch, mixture),
    )
