"""Weighted Gaussian kernel density estimation with a chunked log density.

The estimator matches `scipy.stats.gaussian_kde` (full kernel covariance equal
to the weighted data covariance times `factor**2`, Scott's or Silverman's rule
on the effective sample size, or a fixed factor), but evaluates the log density
by scanning over chunks of the reference set with a running logsumexp, so the
memory is O(queries x chunk) and never O(queries x points x dim). It is used
twice by DIW-GAN (docs/method.md): once to draw the real anchors from a KDE of
the encoded data set, and every step to weight generated latents by their
density under a KDE of a ring buffer of recent generated latents (masked with
zero weights while the buffer is not yet full).
"""

import functools
import math
from typing import NamedTuple, Union

import jax
import jax.numpy as jnp

# Every matmul runs at full float32 precision: GPUs default to TF32, which costs
# up to 1.7 nats of log-density error in the ||a||^2 - 2 a.b + ||b||^2 form.
_HIGHEST = jax.lax.Precision.HIGHEST

# Relative jitter added to the covariance diagonal when its Cholesky factor
# fails (singular or numerically indefinite covariance), see `fit_kde`.
_JITTER = 1e-5

Bandwidth = Union[str, float]


class GaussianKDE(NamedTuple):
  """A fitted weighted Gaussian KDE; a pytree, so it can live in a train state.

  Attributes:
    points: (n, d) reference points.
    weights: (n,) normalised weights summing to 1; zero weights mask points.
    whitening: (d, d) inverse of `cholesky`, so that `whitening @ x` is white
      under the kernel covariance.
    cholesky: (d, d) lower Cholesky factor of the kernel covariance
      `data_covariance * factor**2`.
    log_normalizer: () `-0.5 * d * log(2 pi) - log det(cholesky)`, the log
      normaliser of one kernel.
    factor: () the bandwidth factor used.
  """
  points: jax.Array
  weights: jax.Array
  whitening: jax.Array
  cholesky: jax.Array
  log_normalizer: jax.Array
  factor: jax.Array


def _bandwidth_factor(
    bandwidth: Bandwidth, effective_size: jax.Array, dim: int
) -> jax.Array:
  """scipy's `covariance_factor` for a string rule or a scalar factor."""
  if isinstance(bandwidth, str):
    if bandwidth == "scott":
      return effective_size ** (-1.0 / (dim + 4))
    if bandwidth == "silverman":
      return (effective_size * (dim + 2.0) / 4.0) ** (-1.0 / (dim + 4))
    raise ValueError(
        f"Unknown bandwidth rule {bandwidth!r}; expected 'scott', 'silverman'"
        " or a float factor."
    )
  return jnp.asarray(bandwidth, dtype=effective_size.dtype)


@functools.partial(jax.jit, static_argnames=("bandwidth",))
def _fit_kde_static(
    points: jax.Array, weights: jax.Array, *, bandwidth: str
) -> GaussianKDE:
  return _fit(points, weights, bandwidth=bandwidth)


@jax.jit
def _fit_kde_scalar(
    points: jax.Array, weights: jax.Array, factor: jax.Array
) -> GaussianKDE:
  return _fit(points, weights, bandwidth=factor)


def _fit(points: jax.Array, weights: jax.Array, *, bandwidth) -> GaussianKDE:
  """Shared body of `fit_kde` (traced under jit)."""
  num_points, dim = points.shape
  del num_points
  total = jnp.sum(weights)
  # All-zero weights (an empty ring buffer) give meaningless but NaN-free fits.
  weights = weights / jnp.where(total > 0, total, 1.0)
  sum_sq = jnp.sum(weights**2)
  effective_size = 1.0 / jnp.maximum(sum_sq, jnp.finfo(points.dtype).tiny)
  factor = _bandwidth_factor(bandwidth, effective_size, dim)

  # np.cov(points.T, aweights=weights, bias=False) with weights summing to 1.
  mean = jnp.matmul(weights, points, precision=_HIGHEST)
  centered = points - mean[None, :]
  unbiased = 1.0 - sum_sq
  data_cov = jnp.matmul(
      (centered * weights[:, None]).T, centered, precision=_HIGHEST
  ) / jnp.where(unbiased > 0, unbiased, 1.0)

  data_chol = jnp.linalg.cholesky(data_cov)
  failed = jnp.logical_not(
      jnp.all(jnp.isfinite(data_chol)) & jnp.all(jnp.diagonal(data_chol) > 0)
  )
  mean_var = jnp.trace(data_cov) / dim
  scale = jnp.where(mean_var > 0, mean_var, 1.0)
  jittered = data_cov + _JITTER * scale * jnp.eye(dim, dtype=data_cov.dtype)
  data_chol = jnp.where(failed, jnp.linalg.cholesky(jittered), data_chol)

  cholesky = data_chol * factor
  whitening = jax.scipy.linalg.solve_triangular(
      cholesky, jnp.eye(dim, dtype=cholesky.dtype), lower=True
  )
  log_normalizer = -0.5 * dim * math.log(2 * math.pi) - jnp.sum(
      jnp.log(jnp.diagonal(cholesky))
  )
  return GaussianKDE(
      points=points,
      weights=weights,
      whitening=whitening,
      cholesky=cholesky,
      log_normalizer=log_normalizer,
      factor=factor,
  )


def fit_kde(
    points: jax.typing.ArrayLike,
    *,
    bandwidth: Bandwidth = "scott",
    weights: jax.typing.ArrayLike | None = None,
) -> GaussianKDE:
  """Fits a weighted Gaussian KDE exactly like `scipy.stats.gaussian_kde`.

  The kernel covariance is the weighted, unbiased data covariance
  (`np.cov(points.T, aweights=weights, bias=False)`) times `factor**2`, where
  the factor follows scipy's `bw_method`: Scott's rule
  `neff ** (-1 / (d + 4))`, Silverman's rule
  `(neff * (d + 2) / 4) ** (-1 / (d + 4))` with the effective sample size
  `neff = 1 / sum(w**2)` of the normalised weights, or a given float.

  Weights may contain zeros: those points are excluded from the covariance,
  from `neff`, from the density and from sampling (this is how a partly filled
  ring buffer is masked). If the Cholesky factorisation of the data covariance
  fails (singular covariance, e.g. points on a line, or fewer distinct points
  than dimensions), the diagonal gets a jitter of `1e-5 * trace(cov) / d` (or
  `1e-5` if the covariance is zero) and is factorised again; a well-conditioned
  covariance is used unchanged. All-zero weights give a NaN-free, meaningless
  fit.

  Jit-compatible: a string `bandwidth` is static, a float one may be traced.

  Args:
    points: (n, d) reference points (a (n,) array is read as d = 1).
    bandwidth: "scott", "silverman" or a float bandwidth factor (scipy's
      scalar `bw_method`).
    weights: optional (n,) non-negative weights with a positive sum; uniform
      if None.

  Returns:
    The fitted `GaussianKDE`.

  Example:
    >>> import jax.numpy as jnp
    >>> kde = fit_kde(jnp.array([[0.0], [1.0], [2.0]]), bandwidth=0.5)
    >>> kde.points.shape, float(kde.factor), round(float(kde.cholesky[0, 0]), 4)
    ((3, 1), 0.5, 0.5)
  """
  points = jnp.asarray(points)
  if not jnp.issubdtype(points.dtype, jnp.floating):
    points = points.astype(jnp.result_type(float))
  if points.ndim == 1:
    points = points[:, None]
  if points.ndim != 2:
    raise ValueError(f"points must have shape (n, d), got {points.shape}.")
  if weights is None:
    weights = jnp.ones(points.shape[:1], points.dtype)
  weights = jnp.asarray(weights, points.dtype)
  if weights.shape != points.shape[:1]:
    raise ValueError(
        f"weights must have shape {points.shape[:1]}, got {weights.shape}."
    )
  if isinstance(bandwidth, str):
    return _fit_kde_static(points, weights, bandwidth=bandwidth)
  return _fit_kde_scalar(points, weights, jnp.asarray(bandwidth, points.dtype))


@functools.partial(jax.jit, static_argnames=("chunk_size", "single_pass"))
def kde_log_density(
    kde: GaussianKDE,
    queries: jax.typing.ArrayLike,
    *,
    chunk_size: int = 2048,
    single_pass: bool = False,
) -> jax.Array:
  """Log density of the KDE at each query, in chunks of the reference set.

  With `W = kde.whitening`, each kernel term is
  `log w_i + log_normalizer - 0.5 * (||W x||^2 - 2 (W x).(W p_i) + ||W p_i||^2)`
  (points and queries are first centred on the weighted mean of the points to
  keep the norms, hence the float32 cancellation error, small). A `lax.scan`
  over chunks of at most `chunk_size` points keeps a running (max, sum-exp)
  per query, so memory is O(q x chunk_size). The reference set is padded with
  fewer zero-weight points than there are chunks; zero-weight points
  contribute nothing. All matmuls use `Precision.HIGHEST`.

  `single_pass=True` shifts each query's exponents by an upper bound instead
  of their running max, so each chunk is read once (no max pass): with
  `R` the largest `||W (p_i - mean)||` and `c = max(0, ||W (x - mean)|| - R)`,
  no kernel term exceeds `max log w + 0.5 ||W x||^2 - 0.5 c^2` (the kernel
  distance is at least `c`). It returns the same values up to float32
  rounding wherever the query is within about 13 kernel bandwidths
  (`exp(-87)`, float32's range) of a point beyond what `c` accounts for, and
  `-inf` past that (a query far from every point but inside the cloud's
  radius, e.g. midway between two distant clusters). DIW-GAN's generator
  weights use it (`diwgan.importance.generator_weights`); what it saves in
  a training step is the "KDE weights" piece of the step profiles in
  docs/RESULTS.md.

  Accuracy: in float32 the expanded square loses about
  `eps * ||W (x - mean)||^2` nats, which grows like `1 / factor**2`. With
  Scott's or Silverman's factor on well-conditioned data the error against
  scipy's float64 is ~1e-5 nats; with a factor of 0.01 on the ring or grid
  mixtures it is up to ~2e-3 nats (queries drawn from the data).

  Args:
    kde: a fitted `GaussianKDE` with n points in d dimensions.
    queries: (q, d) query points (a (q,) array is read as d = 1).
    chunk_size: the most reference points per chunk (static); the points
      are split into the fewest chunks of at most this size, all of one size.
    single_pass: shift by the bound above instead of the running max
      (static; see above).

  Returns:
    (q,) log densities.

  Example:
    >>> import jax.numpy as jnp
    >>> kde = fit_kde(jnp.array([[0.0], [1.0], [2.0]]), bandwidth=0.5)
    >>> log_density = kde_log_density(kde, jnp.array([[1.0], [10.0]]))
    >>> log_density.shape, round(float(log_density[0]), 3)
    ((2,), -1.085)
  """
  points, weights = kde.points, kde.weights
  num_points, dim = points.shape
  queries = jnp.asarray(queries, points.dtype)
  if queries.ndim == 1 and dim == 1:
    queries = queries[:, None]
  if queries.ndim != 2 or queries.shape[1] != dim:
    raise ValueError(
        f"queries must have shape (q, {dim}), got {queries.shape}."
    )

  # Balanced chunks: the fewest chunks of at most `chunk_size` points, all of
  # one size, so the padding is less than one point per chunk (5,120 points
  # in chunks of 4,096 would otherwise pad to 8,192 and do 60% more work).
  num_chunks = -(-num_points // max(1, chunk_size))
  chunk = -(-num_points // num_chunks)
  pad = num_chunks * chunk - num_points

  center = jax.lax.stop_gradient(
      jnp.matmul(weights, points, precision=_HIGHEST)
  )
  white_points = jnp.matmul(
      points - center[None, :], kde.whitening.T, precision=_HIGHEST
  )
  white_queries = jnp.matmul(
      queries - center[None, :], kde.whitening.T, precision=_HIGHEST
  )
  query_sq = jnp.sum(white_queries**2, axis=-1)  # (q,)
  # Zero weights give -inf, which drops out of the logsumexp exactly.
  log_weights = jnp.where(weights > 0, jnp.log(weights), -jnp.inf)
  point_sq = jnp.sum(white_points**2, axis=-1)  # (n,)
  # Per-point constant part of the exponent: log w_i - 0.5 ||W p_i||^2.
  point_terms = log_weights - 0.5 * point_sq

  white_points = jnp.pad(white_points, ((0, pad), (0, 0)))
  point_terms = jnp.pad(point_terms, (0, pad), constant_values=-jnp.inf)
  white_points = white_points.reshape(num_chunks, chunk, dim)
  point_terms = point_terms.reshape(num_chunks, chunk)
  num_queries = queries.shape[0]

  if single_pass:
    # Every exponent is at most its query's bound (docstring), so the sum of
    # exp(exponent - bound) neither overflows nor needs a max pass. The bound
    # only stabilises, so it carries no gradient.
    radius = jnp.sqrt(jnp.max(jnp.where(weights > 0, point_sq, 0.0)))
    outside = jnp.maximum(jnp.sqrt(query_sq) - radius, 0.0)
    bound = jax.lax.stop_gradient(
        jnp.max(log_weights) + 0.5 * query_sq - 0.5 * outside**2)
    # All weights zero: -inf, as the running max gives, not NaN.
    bound = jnp.where(jnp.isfinite(bound), bound, 0.0)

    def bounded_step(total, chunk_data):
      chunk_points, chunk_terms = chunk_data
      cross = jnp.matmul(white_queries, chunk_points.T, precision=_HIGHEST)
      return total + jnp.sum(
          jnp.exp(cross + chunk_terms[None, :] - bound[:, None]), axis=-1
      ), None

    total, _ = jax.lax.scan(
        bounded_step, jnp.zeros((num_queries,), points.dtype),
        (white_points, point_terms))
    return bound + jnp.log(total) - 0.5 * query_sq + kde.log_normalizer

  def step(carry, chunk_data):
    running_max, running_sum = carry
    chunk_points, chunk_terms = chunk_data
    cross = jnp.matmul(white_queries, chunk_points.T, precision=_HIGHEST)
    # The -0.5 ||W x||^2 term is per query and added at the end.
    logits = cross + chunk_terms[None, :]  # (q, chunk)
    # The running max only stabilises (logsumexp does not depend on it), so it
    # carries no gradient; -inf (all weights so far zero) shifts by 0 instead.
    new_max = jnp.maximum(
        running_max, jax.lax.stop_gradient(jnp.max(logits, axis=-1))
    )
    shift = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
    old_shift = jnp.where(jnp.isfinite(running_max), running_max, shift)
    running_sum = running_sum * jnp.exp(old_shift - shift) + jnp.sum(
        jnp.exp(logits - shift[:, None]), axis=-1
    )
    return (new_max, running_sum), None

  init = (
      jnp.full((num_queries,), -jnp.inf, points.dtype),
      jnp.zeros((num_queries,), points.dtype),
  )
  (running_max, running_sum), _ = jax.lax.scan(
      step, init, (white_points, point_terms)
  )
  shift = jnp.where(jnp.isfinite(running_max), running_max, 0.0)
  return (
      shift + jnp.log(running_sum) - 0.5 * query_sq + kde.log_normalizer
  )


def kde_sample(
    kde: GaussianKDE, key: jax.Array, num_samples: int
) -> jax.Array:
  """Draws samples from the KDE: a point by weight plus Gaussian kernel noise.

  Zero-weight points are never drawn. Memory is O(n + num_samples x d).

  Args:
    kde: a fitted `GaussianKDE` with n points in d dimensions.
    key: a PRNG key.
    num_samples: number of samples (static under jit).

  Returns:
    (num_samples, d) samples.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> kde = fit_kde(jnp.array([[0.0], [1.0], [2.0]]), bandwidth=0.5)
    >>> kde_sample(kde, jax.random.key(0), 5).shape
    (5, 1)
  """
  points = kde.points
  num_points, dim = points.shape
  index_key, noise_key = jax.random.split(key)
  # Inverse-CDF sampling (cumsum + searchsorted): a zero weight is a flat step
  # of the CDF and is never selected.
  index = jax.random.choice(
      index_key, num_points, shape=(num_samples,), p=kde.weights
  )
  noise = jax.random.normal(noise_key, (num_samples, dim), points.dtype)
  return points[index, :] + jnp.matmul(
      noise, kde.cholesky.T, precision=_HIGHEST
  )
