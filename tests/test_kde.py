"""Tests for diwgan.kde against scipy.stats.gaussian_kde."""

import chex
import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diwgan import kde as kde_lib

# float32 log densities against scipy's float64: 1e-4 relative, plus 1e-4 nats
# absolute for log densities that cross zero (where relative error is moot).
_RTOL = 1e-4
_ATOL = 1e-4


def _well_conditioned(seed, num_points, dim):
  """Correlated Gaussian data with covariance condition number <= 16."""
  rng = np.random.default_rng(seed)
  rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
  scales = rng.uniform(0.5, 2.0, size=dim)
  offset = rng.normal(size=dim)
  points = (rng.normal(size=(num_points, dim)) * scales) @ rotation.T + offset
  # Queries on and around the data, up to a few standard deviations out.
  queries = points[: num_points // 3] + rng.normal(
      scale=0.5, size=(num_points // 3, dim)
  )
  return points.astype(np.float32), queries.astype(np.float32), rng


def _scipy_log_density(points, queries, bandwidth, weights=None):
  """scipy reference in float64, dropping zero-weight points.

  scipy's logpdf returns NaN as soon as one weight is zero (it takes log(0)
  inside its logsumexp), although its fit handles zeros; dropping them leaves
  the same normalised weights, neff and covariance.
  """
  points = points.astype(np.float64)
  if weights is not None:
    keep = np.asarray(weights) > 0
    points, weights = points[keep], np.asarray(weights, np.float64)[keep]
  reference = stats.gaussian_kde(points.T, bw_method=bandwidth, weights=weights)
  return reference.logpdf(queries.astype(np.float64).T)


@pytest.mark.parametrize("single_pass", [False, True])
@pytest.mark.parametrize("dim", [1, 2, 3, 8])
@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.5])
def test_log_density_matches_scipy(dim, bandwidth, single_pass):
  points, queries, _ = _well_conditioned(dim, 600, dim)
  kde = kde_lib.fit_kde(points, bandwidth=bandwidth)
  ours = kde_lib.kde_log_density(  # 600 % 128 != 0
      kde, queries, chunk_size=128, single_pass=single_pass)
  expected = _scipy_log_density(points, queries, bandwidth)
  chex.assert_shape(ours, (queries.shape[0],))
  np.testing.assert_allclose(ours, expected, rtol=_RTOL, atol=_ATOL)


@pytest.mark.parametrize("single_pass", [False, True])
@pytest.mark.parametrize("dim", [1, 3, 8])
@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.3])
def test_weighted_log_density_matches_scipy(dim, bandwidth, single_pass):
  points, queries, rng = _well_conditioned(10 + dim, 600, dim)
  weights = rng.uniform(0.1, 2.0, size=600)
  weights[rng.permutation(600)[:150]] = 0.0  # masked points
  kde = kde_lib.fit_kde(points, bandwidth=bandwidth, weights=weights)
  ours = kde_lib.kde_log_density(  # 200 divides n
      kde, queries, chunk_size=200, single_pass=single_pass)
  expected = _scipy_log_density(points, queries, bandwidth, weights)
  np.testing.assert_allclose(ours, expected, rtol=_RTOL, atol=_ATOL)
  # And against scipy's own pdf with the zeros kept in.
  full = stats.gaussian_kde(
      points.astype(np.float64).T, bw_method=bandwidth, weights=weights
  )
  np.testing.assert_allclose(
      ours, np.log(full.pdf(queries.astype(np.float64).T)),
      rtol=_RTOL, atol=_ATOL,
  )


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.25])
def test_fit_matches_scipy_attributes(bandwidth):
  points, _, rng = _well_conditioned(3, 400, 3)
  weights = rng.uniform(size=400)
  weights[:40] = 0.0
  kde = kde_lib.fit_kde(points, bandwidth=bandwidth, weights=weights)
  reference = stats.gaussian_kde(
      points.astype(np.float64).T, bw_method=bandwidth, weights=weights
  )
  np.testing.assert_allclose(kde.factor, reference.factor, rtol=1e-5)
  np.testing.assert_allclose(kde.weights, reference.weights, rtol=1e-5)
  np.testing.assert_allclose(
      kde.cholesky, reference.cho_cov, rtol=1e-4, atol=1e-6
  )
  np.testing.assert_allclose(
      kde.cholesky @ kde.cholesky.T, reference.covariance, rtol=1e-4,
      atol=1e-6,
  )
  np.testing.assert_allclose(
      kde.whitening @ kde.cholesky, np.eye(3), atol=1e-5
  )
  # scipy's log_det is log det(2 pi covariance).
  expected_log_normalizer = -0.5 * reference.log_det
  np.testing.assert_allclose(
      kde.log_normalizer, expected_log_normalizer, rtol=1e-5
  )


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 300, 301, 5000])
def test_chunk_size_does_not_change_result(chunk_size):
  points, queries, _ = _well_conditioned(5, 300, 2)
  kde = kde_lib.fit_kde(points)
  ours = kde_lib.kde_log_density(kde, queries, chunk_size=chunk_size)
  expected = _scipy_log_density(points, queries, "scott")
  np.testing.assert_allclose(ours, expected, rtol=_RTOL, atol=_ATOL)


@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(
    num_points=st.integers(1, 40),
    chunk_size=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_chunking_property(num_points, chunk_size, seed):
  rng = np.random.default_rng(seed)
  points = rng.normal(size=(num_points, 2)).astype(np.float32)
  weights = rng.uniform(size=num_points).astype(np.float32) + 0.1
  queries = rng.normal(size=(5, 2)).astype(np.float32)
  kde = kde_lib.fit_kde(points, bandwidth=0.5, weights=weights)
  chunked = kde_lib.kde_log_density(kde, queries, chunk_size=chunk_size)
  whole = kde_lib.kde_log_density(kde, queries, chunk_size=num_points)
  assert np.all(np.isfinite(chunked))
  np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("debug_nans")
@pytest.mark.parametrize("chunk_size", [1, 50])
def test_far_queries_and_masked_leading_chunks(chunk_size):
  points, _, rng = _well_conditioned(6, 300, 2)
  weights = np.ones(300, np.float32)
  weights[:150] = 0.0  # the first chunks hold only masked points
  kde = kde_lib.fit_kde(points, bandwidth=0.2, weights=weights)
  # Every kernel term underflows float32 here (log density ~ -1e3 .. -1e5).
  far = (rng.normal(size=(20, 2)) * 30.0 + 40.0).astype(np.float32)
  ours = kde_lib.kde_log_density(kde, far, chunk_size=chunk_size)
  assert np.all(np.isfinite(ours))
  assert np.all(ours < -500.0)
  expected = _scipy_log_density(points, far, 0.2, weights)
  np.testing.assert_allclose(ours, expected, rtol=_RTOL)


def test_jit_fit_and_log_density():
  points, queries, _ = _well_conditioned(7, 300, 3)
  fit = jax.jit(kde_lib.fit_kde, static_argnames="bandwidth")
  for bandwidth in ("scott", "silverman", 0.4):
    kde = fit(points, bandwidth=bandwidth)
    ours = jax.jit(kde_lib.kde_log_density)(kde, queries)
    expected = _scipy_log_density(points, queries, bandwidth)
    np.testing.assert_allclose(ours, expected, rtol=_RTOL, atol=_ATOL)


def test_traced_float_bandwidth():
  points, queries, _ = _well_conditioned(8, 300, 2)

  @jax.jit
  def log_density(factor):
    return kde_lib.kde_log_density(
        kde_lib.fit_kde(points, bandwidth=factor), queries
    )

  for factor in (0.2, 0.6):
    expected = _scipy_log_density(points, queries, factor)
    np.testing.assert_allclose(
        log_density(factor), expected, rtol=_RTOL, atol=_ATOL
    )


def test_vmap_over_queries_and_over_fits():
  points, queries, rng = _well_conditioned(9, 200, 2)
  kde = kde_lib.fit_kde(points)
  batched_queries = queries[:60].reshape(3, 20, 2)
  batched = jax.vmap(kde_lib.kde_log_density, in_axes=(None, 0))(
      kde, batched_queries
  )
  np.testing.assert_allclose(
      batched.reshape(-1),
      kde_lib.kde_log_density(kde, queries[:60]),
      rtol=1e-6, atol=1e-6,
  )

  # A batch of masked ring buffers, as in the training step.
  weights = (rng.uniform(size=(4, 200)) > 0.3).astype(np.float32)

  def fit_and_evaluate(buffer_weights):
    fitted = kde_lib.fit_kde(points, bandwidth=0.5, weights=buffer_weights)
    return kde_lib.kde_log_density(fitted, queries, chunk_size=64)

  results = jax.jit(jax.vmap(fit_and_evaluate))(weights)
  for row, row_weights in zip(results, weights):
    expected = _scipy_log_density(points, queries, 0.5, row_weights)
    np.testing.assert_allclose(row, expected, rtol=_RTOL, atol=_ATOL)


def test_no_retracing_for_new_values():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def log_density(points, weights, queries):
    kde = kde_lib.fit_kde(points, bandwidth="scott", weights=weights)
    return kde_lib.kde_log_density(kde, queries, chunk_size=32)

  for seed in range(3):
    points, queries, rng = _well_conditioned(seed, 90, 2)
    weights = rng.uniform(size=90).astype(np.float32)
    log_density(points, weights, queries)
  chex.clear_trace_counter()


def test_sample_moments_match_mixture():
  points, _, rng = _well_conditioned(11, 40, 3)
  weights = rng.uniform(size=40)
  weights[:5] = 0.0
  kde = kde_lib.fit_kde(points, bandwidth=0.5, weights=weights)
  num_samples = 200_000
  samples = np.asarray(
      jax.jit(kde_lib.kde_sample, static_argnums=2)(
          kde, jax.random.key(0), num_samples
      ),
      np.float64,
  )
  chex.assert_shape(samples, (num_samples, 3))
  normalised = weights / weights.sum()
  mean = normalised @ points
  centered = points - mean
  biased_cov = (centered * normalised[:, None]).T @ centered
  kernel_cov = np.asarray(kde.cholesky @ kde.cholesky.T, np.float64)
  expected_cov = biased_cov + kernel_cov
  # Standard error of the mean: sqrt(var / N) ~ 5e-3 here; use ~5 sigma.
  std = np.sqrt(np.diag(expected_cov))
  np.testing.assert_allclose(
      samples.mean(0), mean, atol=5 * std.max() / np.sqrt(num_samples)
  )
  np.testing.assert_allclose(
      np.cov(samples.T), expected_cov, atol=0.03 * np.abs(expected_cov).max()
  )


def test_zero_weight_points_never_sampled():
  rng = np.random.default_rng(12)
  points = rng.normal(size=(64, 2)).astype(np.float32)
  weights = np.ones(64, np.float32)
  masked = [0, 17, 63]  # first, middle and last: every edge of the CDF
  points[masked] = [[100.0, 100.0], [-100.0, 100.0], [100.0, -100.0]]
  weights[masked] = 0.0
  kde = kde_lib.fit_kde(points, bandwidth=0.05, weights=weights)
  samples = np.asarray(kde_lib.kde_sample(kde, jax.random.key(1), 50_000))
  assert np.abs(samples).max() < 20.0
  # Every sample lies within a few kernel widths of a drawable point.
  kernel_std = np.sqrt(np.diag(np.asarray(kde.cholesky @ kde.cholesky.T)))
  nearest = np.min(
      np.linalg.norm(samples[:, None, :] - points[None, weights > 0], axis=-1),
      axis=1,
  )
  assert nearest.max() < 8 * kernel_std.max()


@pytest.mark.usefixtures("debug_nans")
def test_grad_matches_finite_differences():
  points, queries, rng = _well_conditioned(13, 300, 3)
  weights = rng.uniform(size=300)
  weights[:30] = 0.0
  kde = kde_lib.fit_kde(points, bandwidth=0.5, weights=weights)

  def total_log_density(q):
    return jnp.sum(kde_lib.kde_log_density(kde, q, chunk_size=64))

  grad = jax.jit(jax.grad(total_log_density))(queries[:20])
  assert np.all(np.isfinite(grad))
  # Central differences of the float64 scipy density.
  step = 1e-4
  numeric = np.zeros((20, 3))
  for axis in range(3):
    offset = np.zeros(3)
    offset[axis] = step
    upper = _scipy_log_density(points, queries[:20] + offset, 0.5, weights)
    lower = _scipy_log_density(points, queries[:20] - offset, 0.5, weights)
    numeric[:, axis] = (upper - lower) / (2 * step)
  np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-3)


def test_singular_covariance_gets_jitter():
  rng = np.random.default_rng(14)
  line = rng.normal(size=(50, 1)).astype(np.float32)
  points = np.concatenate([line, 2 * line], axis=1)  # rank 1 in 2-D
  kde = kde_lib.fit_kde(points)
  assert np.all(np.isfinite(kde.cholesky))
  assert np.all(np.isfinite(kde.whitening))
  log_density = kde_lib.kde_log_density(kde, points[:5])
  assert np.all(np.isfinite(log_density))
  # A single point: zero covariance, jitter of 1e-5 * identity.
  single = kde_lib.fit_kde(points[:1], bandwidth=1.0)
  np.testing.assert_allclose(
      single.cholesky @ single.cholesky.T, 1e-5 * np.eye(2), rtol=1e-4
  )


def test_well_conditioned_covariance_has_no_jitter():
  points, _, _ = _well_conditioned(15, 200, 2)
  kde = kde_lib.fit_kde(points, bandwidth=1.0)
  np.testing.assert_allclose(
      kde.cholesky @ kde.cholesky.T,
      np.cov(points.astype(np.float64).T),
      rtol=1e-5, atol=1e-6,
  )


def test_one_dimensional_points_and_errors():
  rng = np.random.default_rng(16)
  points = rng.normal(size=100).astype(np.float32)
  kde = kde_lib.fit_kde(points)
  chex.assert_shape(kde.points, (100, 1))
  np.testing.assert_allclose(
      kde_lib.kde_log_density(kde, points[:10]),
      stats.gaussian_kde(points.astype(np.float64)).logpdf(points[:10]),
      rtol=_RTOL, atol=_ATOL,
  )
  with pytest.raises(ValueError, match="bandwidth"):
    kde_lib.fit_kde(points, bandwidth="nrd0")
  with pytest.raises(ValueError, match="weights"):
    kde_lib.fit_kde(points, weights=np.ones(3))
  with pytest.raises(ValueError, match="queries"):
    kde_lib.kde_log_density(
        kde_lib.fit_kde(rng.normal(size=(10, 2))), np.zeros((4, 3))
    )


def test_single_pass_far_queries_and_its_documented_limit():
  """The bound shift: far outside the cloud as scipy; -inf only in a gap."""
  # Outside the cloud's radius the bound follows the query out: a query 40
  # bandwidths beyond the data keeps scipy's (very negative) log density.
  points = np.array([[0.0], [1.0], [2.0]], np.float32)
  kde = kde_lib.fit_kde(points, bandwidth=0.5)
  queries = np.array([[1.0], [10.0], [-20.0]], np.float32)
  ours = kde_lib.kde_log_density(kde, queries, single_pass=True)
  expected = _scipy_log_density(points, queries, 0.5)
  assert expected[2] < -300  # far past float32's exp range
  np.testing.assert_allclose(ours, expected, rtol=_RTOL, atol=_ATOL)
  # Midway between two clusters 40 bandwidths apart, inside the radius: the
  # documented -inf, where the running max keeps scipy's finite value.
  points = np.array([[-20.0], [-19.0], [19.0], [20.0]], np.float32)
  kde = kde_lib.fit_kde(points, bandwidth=0.02)
  middle = np.array([[0.0]], np.float32)
  assert np.isneginf(kde_lib.kde_log_density(kde, middle, single_pass=True))
  np.testing.assert_allclose(
      kde_lib.kde_log_density(kde, middle),
      _scipy_log_density(points, middle, 0.02), rtol=_RTOL)


def test_single_pass_gradient_matches_running_max():
  points, queries, _ = _well_conditioned(7, 300, 3)
  kde = kde_lib.fit_kde(points)

  def total(single_pass):
    return jax.grad(lambda q: jnp.sum(kde_lib.kde_log_density(
        kde, q, chunk_size=64, single_pass=single_pass)))(jnp.asarray(queries))

  np.testing.assert_allclose(total(True), total(False), rtol=1e-4, atol=1e-5)


def test_single_pass_all_zero_weights_give_minus_infinity_as_running_max():
  kde = kde_lib.fit_kde(np.arange(3.0)[:, None], bandwidth=0.5,
                        weights=np.zeros(3))
  for single_pass in (False, True):
    assert np.isneginf(kde_lib.kde_log_density(
        kde, np.ones((2, 1)), single_pass=single_pass)).all()
