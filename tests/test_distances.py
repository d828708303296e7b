import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import distance as scipy_distance

from diwgan.distances import pairwise_distances


@pytest.mark.parametrize("kind", ["euclidean", "sqeuclidean"])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (5, 7, 2), (64, 33, 8), (0, 4, 3)])
def test_matches_scipy_cdist(kind, m, n, k):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(m, k)).astype(np.float32)
  y = rng.normal(size=(n, k)).astype(np.float32)
  expected = scipy_distance.cdist(x.astype(np.float64), y.astype(np.float64),
                                  metric=kind)
  got = pairwise_distances(x, y, kind=kind)
  assert got.shape == (m, n)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_batched_over_leading_axes_equals_vmap():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(3, 2, 6, 4)).astype(np.float32)
  y = rng.normal(size=(3, 2, 5, 4)).astype(np.float32)
  batched = pairwise_distances(x, y)
  mapped = jax.vmap(jax.vmap(pairwise_distances))(x, y)
  assert batched.shape == (3, 2, 6, 5)
  np.testing.assert_allclose(batched, mapped, rtol=1e-6)


def test_gradient_finite_at_zero_distance(debug_nans):
  x = jnp.array([[1.0, 2.0], [3.0, -1.0]])
  grad = jax.grad(lambda x: pairwise_distances(x, x).sum())(x)
  assert np.all(np.isfinite(grad))
  # Away from zero, the gradient is the unit vector (x - y)/|x - y|.
  y = jnp.array([[0.0, 0.0]])
  grad = jax.grad(lambda x: pairwise_distances(x, y).sum())(jnp.array([[3.0, 4.0]]))
  np.testing.assert_allclose(grad, [[0.6, 0.8]], rtol=1e-6)


def test_jit_does_not_retrace():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def f(x, y):
    return pairwise_distances(x, y)

  x = jnp.ones((4, 3))
  for _ in range(3):
    f(x, x + 1.0)


def test_bad_shapes_raise_with_shapes():
  with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
    pairwise_distances(jnp.ones((4, 3)), jnp.ones((4, 2)))
  with pytest.raises(ValueError, match="Unknown distance kind"):
    pairwise_distances(jnp.ones((4, 3)), jnp.ones((4, 3)), kind="cosine")
