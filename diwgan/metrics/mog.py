"""Mode coverage, sample quality and JSD metrics for the Gaussian mixtures.

docs/method.md (Metrics): each generated sample is assigned to its nearest mode by
Mahalanobis distance under that mode's covariance; it is high quality (HQ) if
that distance is at most `hq_std` (3 standard deviations). A mode is captured
if at least one HQ sample is assigned to it (strictly: at least
`strict_threshold`). The JSD compares the histogram of assignments, with one
extra bin for non-HQ samples, with the mixture weights (0 in the extra bin).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from diwgan.data import mog as mog_data


class MixtureMetrics(NamedTuple):
  """Metrics of a sample set against a mixture.

  Attributes:
    modes: () int, modes that are the nearest mode of >= 1 HQ sample.
    strict_modes: () int, modes that are the nearest mode of
      >= `strict_threshold` HQ samples.
    hqs: () float, fraction of HQ samples.
    jsd: () float, Jensen-Shannon divergence (natural log, in [0, log 2])
      between the assignment histogram and the mixture weights.
    counts: (K + 1,) int, HQ samples per mode; the last bin counts non-HQ
      samples.
  """
  modes: jax.Array
  strict_modes: jax.Array
  hqs: jax.Array
  jsd: jax.Array
  counts: jax.Array


def mahalanobis_distances(
    samples: jax.typing.ArrayLike, mixture: mog_data.Mixture
) -> jax.Array:
  """Mahalanobis distance of every sample to every mode.

  Args:
    samples: (n, d) points.
    mixture: a `Mixture` with K components in d dimensions.

  Returns:
    (n, K) distances `sqrt((x - mu_k)^T Sigma_k^{-1} (x - mu_k))`.

  Example:
    >>> import jax.numpy as jnp
    >>> from diwgan.data import mog as mog_data
    >>> ring = mog_data.make_mixture("ring")  # mode 0 at (1, 0), std 0.01
    >>> distances = mahalanobis_distances(jnp.array([[1.03, 0.0]]), ring)
    >>> distances.shape, round(float(distances[0, 0]), 3)
    ((1, 8), 3.0)
  """
  samples = jnp.asarray(samples, mixture.means.dtype)
  cholesky = jnp.linalg.cholesky(mixture.covariances)  # (K, d, d)
  identity = jnp.broadcast_to(
      jnp.eye(cholesky.shape[-1], dtype=cholesky.dtype), cholesky.shape
  )
  # Whitening L_k^{-1}, so that ||L_k^{-1} (x - mu_k)|| is the distance.
  whitening = jax.scipy.linalg.solve_triangular(cholesky, identity, lower=True)
  diffs = samples[:, None, :] - mixture.means[None, :, :]  # (n, K, d)
  white = jnp.einsum(
      "kij,nkj->nki", whitening, diffs, precision=jax.lax.Precision.HIGHEST
  )
  return jnp.sqrt(jnp.sum(white**2, axis=-1))


def jensen_shannon(p: jax.Array, q: jax.Array) -> jax.Array:
  """JSD (natural log) between two distributions on the same bins, 0 log 0 = 0.

  Args:
    p: (B,) non-negative, sums to 1.
    q: (B,) non-negative, sums to 1.

  Returns:
    () `0.5 KL(p || m) + 0.5 KL(q || m)` with `m = (p + q) / 2`.

  Example:
    >>> import jax.numpy as jnp
    >>> round(float(jensen_shannon(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))), 4)
    0.6931
  """
  middle = 0.5 * (p + q)
  rel_entr = jax.scipy.special.rel_entr
  return 0.5 * jnp.sum(rel_entr(p, middle)) + 0.5 * jnp.sum(
      rel_entr(q, middle)
  )


@jax.jit
def mixture_metrics(
    samples: jax.typing.ArrayLike,
    mixture: mog_data.Mixture,
    *,
    hq_std: float = 3.0,
    strict_threshold: int = 20,
) -> MixtureMetrics:
  """Modes captured, HQ fraction and JSD of samples against a mixture.

  Jit-compiled (hyper-parameters are traced, so changing them does not
  recompile); memory O(n K d). Ties in the nearest mode go to the lowest
  index.

  Args:
    samples: (n, d) generated samples, n >= 1.
    mixture: the real `Mixture`, K components in d dimensions.
    hq_std: a sample is HQ if its Mahalanobis distance to its nearest mode is
      at most this many standard deviations.
    strict_threshold: HQ samples a mode needs to count in `strict_modes`.

  Returns:
    A `MixtureMetrics`.

  Example:
    >>> from diwgan.data import mog as mog_data
    >>> ring = mog_data.make_mixture("ring")
    >>> result = mixture_metrics(ring.means[:3], ring)  # three mode centres
    >>> int(result.modes), float(result.hqs), result.counts.tolist()
    (3, 1.0, [1, 1, 1, 0, 0, 0, 0, 0, 0])
  """
  num_modes = mixture.means.shape[0]
  distances = mahalanobis_distances(samples, mixture)  # (n, K)
  nearest = jnp.argmin(distances, axis=-1)
  high_quality = jnp.min(distances, axis=-1) <= hq_std
  bins = jnp.where(high_quality, nearest, num_modes)
  counts = jnp.bincount(bins, length=num_modes + 1).astype(jnp.int32)
  mode_counts = counts[:num_modes]
  histogram = counts / jnp.sum(counts)
  real = jnp.concatenate(
      [mixture.weights / jnp.sum(mixture.weights), jnp.zeros((1,))]
  )
  return MixtureMetrics(
      modes=jnp.sum(mode_counts >= 1).astype(jnp.int32),
      strict_modes=jnp.sum(mode_counts >= strict_threshold).astype(jnp.int32),
      hqs=jnp.mean(high_quality.astype(jnp.float32)),
      jsd=jensen_shannon(histogram.astype(real.dtype), real),
      counts=counts,
  )


def reverse_kl(counts: jax.typing.ArrayLike, weights: jax.typing.ArrayLike
               ) -> jax.Array:
  """KL(generated mode histogram || mixture weights), natural log.

  The "reverse KL" of the PacGAN paper's mixture table, as this project
  reads it: the high-quality samples' histogram over the modes (the
  `counts` of `mixture_metrics` without the non-HQ bin, normalised) against
  the mode weights; an empty mode adds 0 (0 log 0 = 0). Without any HQ
  sample the histogram is undefined and the result is NaN.

  Args:
    counts: (K + 1,) or (K,) HQ samples per mode; a (K + 1)-th entry (the
      non-HQ bin of `mixture_metrics`) is dropped.
    weights: (K,) mode weights, summing to 1.

  Returns:
    () `sum_k p_k log(p_k / w_k)`.

  Example:
    >>> import jax.numpy as jnp
    >>> uniform = jnp.full((4,), 0.25)
    >>> round(float(reverse_kl(jnp.array([5, 5, 5, 5, 7]), uniform)), 6)
    0.0
    >>> round(float(reverse_kl(jnp.array([10, 0, 0, 0]), uniform)), 4)  # log 4
    1.3863
    >>> float(reverse_kl(jnp.array([0, 0, 0, 0, 9]), uniform))  # no HQ sample
    inf
  """
  weights = jnp.asarray(weights, jnp.float32)
  counts = jnp.asarray(counts, jnp.float32)[: weights.shape[0]]
  histogram = counts / jnp.sum(counts)
  return jnp.sum(jax.scipy.special.rel_entr(histogram, weights))
