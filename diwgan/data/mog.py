"""The mixture-of-Gaussians benchmarks (docs/method.md, Data sets).

Four mixtures with equal component weights, named by their `--config` value:

- `ring`: 8 modes on the unit circle at angles `2 pi k / 8`, k = 0..7,
  isotropic std 0.01.
- `grid`: 25 modes at {-4, -2, 0, 2, 4}^2, isotropic std 0.05.
- `random_grid`: 25 anisotropic modes around the `grid` centres; the recipe is
  in `make_mixture`'s docstring.
- `cube`: 27 modes at {-2, 0, 2}^3, isotropic std 0.05.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MIXTURES = ("ring", "grid", "random_grid", "cube")

# Seed of the numpy generator that draws the `random_grid` mixture.
RANDOM_GRID_SEED = 0


class Mixture(NamedTuple):
  """A Gaussian mixture; a pytree of arrays.

  Attributes:
    means: (K, d) component means (the modes).
    covariances: (K, d, d) component covariances.
    weights: (K,) component weights, all 1 / K.
  """
  means: jax.Array
  covariances: jax.Array
  weights: jax.Array


def _isotropic(means: np.ndarray, std: float) -> Mixture:
  num_modes, dim = means.shape
  covariances = np.broadcast_to(std**2 * np.eye(dim), (num_modes, dim, dim))
  return _to_mixture(means, covariances)


def _to_mixture(means: np.ndarray, covariances: np.ndarray) -> Mixture:
  num_modes = means.shape[0]
  return Mixture(
      means=jnp.asarray(means, jnp.float32),
      covariances=jnp.asarray(covariances, jnp.float32),
      weights=jnp.full((num_modes,), 1.0 / num_modes, jnp.float32),
  )


def _grid_centres() -> np.ndarray:
  """(25, 2) centres {-4, -2, 0, 2, 4}^2, x-major order."""
  axis = np.arange(-4.0, 5.0, 2.0)
  return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def _random_grid() -> Mixture:
  rng = np.random.default_rng(RANDOM_GRID_SEED)
  centres = _grid_centres()
  num_modes = centres.shape[0]
  means = centres + rng.uniform(-0.5, 0.5, size=(num_modes, 2))
  angles = rng.uniform(0.0, np.pi, size=num_modes)
  stds = rng.uniform(0.03, 0.1, size=(num_modes, 2))
  cos, sin = np.cos(angles), np.sin(angles)
  rotations = np.stack(
      [np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2
  )  # (K, 2, 2), rotation by angle
  covariances = np.einsum(
      "kij,kj,klj->kil", rotations, stds**2, rotations
  )  # R diag(std^2) R^T
  return _to_mixture(means, covariances)


def make_mixture(name: str) -> Mixture:
  """Builds one of the benchmark mixtures (see the module docstring).

  `random_grid` is drawn, in this order, from
  `rng = np.random.default_rng(0)` (`RANDOM_GRID_SEED`):
  1. means: the 25 `grid` centres (x-major order: (-4,-4), (-4,-2), ...)
     plus `rng.uniform(-0.5, 0.5, size=(25, 2))`;
  2. rotation angles: `rng.uniform(0, pi, size=25)`;
  3. per-axis stds: `rng.uniform(0.03, 0.1, size=(25, 2))`;
  and covariance `k` is `R_k diag(std_k**2) R_k^T` with `R_k` the rotation by
  angle `k`. The mixture is the same on every machine and every call.

  Args:
    name: one of `MIXTURES`.

  Returns:
    The `Mixture` (float32 arrays).

  Raises:
    ValueError: for an unknown name; the message lists the valid ones.

  Example:
    >>> ring = make_mixture("ring")
    >>> ring.means.shape, ring.covariances.shape, ring.weights.shape
    ((8, 2), (8, 2, 2), (8,))
  """
  if name == "ring":
    angles = 2.0 * np.pi * np.arange(8) / 8  # not linspace(0, 2 pi, 8)
    return _isotropic(np.stack([np.cos(angles), np.sin(angles)], -1), 0.01)
  if name == "grid":
    return _isotropic(_grid_centres(), 0.05)
  if name == "random_grid":
    return _random_grid()
  if name == "cube":
    axis = np.array([-2.0, 0.0, 2.0])
    means = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    return _isotropic(means.reshape(-1, 3), 0.05)
  raise ValueError(
      f"Unknown mixture {name!r}; valid names are {', '.join(MIXTURES)}."
  )


def sample_mixture(
    mixture: Mixture, key: jax.Array, num_samples: int
) -> jax.Array:
  """Draws i.i.d. samples from a mixture (jittable, `num_samples` static).

  Args:
    mixture: a `Mixture` with K components in d dimensions.
    key: a PRNG key.
    num_samples: number of samples.

  Returns:
    (num_samples, d) float samples.

  Example:
    >>> import jax
    >>> sample_mixture(make_mixture("cube"), jax.random.key(0), 5).shape
    (5, 3)
  """
  component_key, noise_key = jax.random.split(key)
  num_modes, dim = mixture.means.shape
  components = jax.random.choice(
      component_key, num_modes, shape=(num_samples,), p=mixture.weights
  )
  cholesky = jnp.linalg.cholesky(mixture.covariances)  # (K, d, d)
  noise = jax.random.normal(noise_key, (num_samples, dim), mixture.means.dtype)
  return mixture.means[components, :] + jnp.einsum(
      "nij,nj->ni", cholesky[components], noise,
      precision=jax.lax.Precision.HIGHEST,
  )
