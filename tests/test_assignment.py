"""Tests for diwgan.assignment against scipy.optimize.linear_sum_assignment."""

import os

import chex
import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from diwgan import assignment

_RECORDED = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks",
                         "data", "ring_costs.npz")


def _point_cloud_cost(seed, n, m, dim=8):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, dim))
  y = rng.normal(size=(m, dim))
  return np.linalg.norm(x[:, None] - y[None], axis=-1).astype(np.float32)


def _optimum(cost):
  rows, cols = scipy.optimize.linear_sum_assignment(np.asarray(cost))
  return float(np.asarray(cost, np.float64)[rows, cols].sum())


def _assert_valid(result, n, m):
  assignment_ = np.asarray(result.assignment)
  assert assignment_.shape == (n,)
  assert assignment_.dtype == np.int32
  assert np.all((assignment_ >= 0) & (assignment_ < m))
  assert len(np.unique(assignment_)) == n
  assert result.prices.shape == (m,)


def _assert_near_optimal(cost, result, eps_final=None):
  """Total cost within n * eps_final * range of scipy's optimum."""
  cost = np.asarray(cost, np.float64)
  n = cost.shape[0]
  if n == 0:
    return
  if eps_final is None:
    eps_final = assignment.default_eps_final(n)
  finite = cost[np.isfinite(cost)]
  spread = finite.max() - finite.min()
  total = cost[np.arange(n), np.asarray(result.assignment)].sum()
  optimum = _optimum(cost)
  # float32 rounding of the total adds a few ulps per row.
  tolerance = n * eps_final * spread + 1e-6 * n * np.abs(finite).max()
  assert total <= optimum + tolerance, (total, optimum, tolerance)


@pytest.mark.parametrize(
    "n,m", [(0, 0), (0, 3), (1, 1), (1, 5), (2, 2), (7, 7), (3, 8), (64, 64),
            (256, 256), (512, 512), (200, 512)])
def test_auction_matches_scipy(n, m):
  cost = _point_cloud_cost(n * 1000 + m, n, m)
  result = assignment.auction(cost)
  _assert_valid(result, n, m)
  assert bool(result.converged)
  _assert_near_optimal(cost, result)


@pytest.mark.parametrize(
    "n,m", [(1, 1), (1, 5), (7, 7), (3, 8), (64, 64), (200, 512)])
def test_jacobi_bidding_matches_scipy(n, m):
  cost = _point_cloud_cost(n * 1000 + m, n, m)
  result = assignment.auction(cost, bidding="jacobi")
  _assert_valid(result, n, m)
  assert bool(result.converged)
  _assert_near_optimal(cost, result)


def test_unknown_bidding_raises():
  with pytest.raises(ValueError, match="gauss_seidel"):
    assignment.auction(np.zeros((2, 2), np.float32), bidding="sequential")


def _recorded_costs(phase, steps):
  """The first `steps` matching problems of a recorded DIW-GAN ring phase."""
  data = np.load(_RECORDED)
  anchors = data["anchors"].astype(np.float64)
  latents = data[f"phase{phase}_latents"][:steps].astype(np.float64)
  costs = np.linalg.norm(anchors[None, :, None] - latents[:, None], axis=-1)
  return costs.astype(np.float32), data[f"phase{phase}_prices"]


@pytest.mark.parametrize("bidding", ["gauss_seidel", "jacobi"])
@pytest.mark.parametrize("phase", [0, 1])
def test_recorded_training_problems(phase, bidding):
  # Clustered anchors and latents, warm-started as DIW-GAN calls it.
  costs, prices = _recorded_costs(phase, 2)
  for cost in costs:
    result = assignment.auction(cost, prices=prices, bidding=bidding)
    _assert_valid(result, 512, 512)
    assert bool(result.converged)
    _assert_near_optimal(cost, result)
    prices = result.prices


def test_measured_gap_is_small():
  cost = _point_cloud_cost(0, 512, 512)
  result = assignment.auction(cost)
  total = float(assignment.assignment_cost(cost, result.assignment))
  assert total / _optimum(cost) - 1 < 3e-5


def test_all_equal_costs():
  cost = np.full((5, 7), 3.0, np.float32)
  result = assignment.auction(cost)
  _assert_valid(result, 5, 7)
  assert bool(result.converged)
  assert float(assignment.assignment_cost(cost, result.assignment)) == 15.0


@pytest.mark.parametrize("seed", range(3))
def test_integer_costs_with_ties(seed):
  rng = np.random.default_rng(seed)
  cost = rng.integers(0, 5, size=(64, 64)).astype(np.float32)
  result = assignment.auction(cost)
  _assert_valid(result, 64, 64)
  _assert_near_optimal(cost, result)
  # Integer costs: eps < 1 / n is exact.
  total = float(assignment.assignment_cost(cost, result.assignment))
  assert total == _optimum(cost)


def test_wide_cost_range():
  rng = np.random.default_rng(1)
  cost = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), size=(200, 512)))
  cost = cost.astype(np.float32)
  result = assignment.auction(cost)
  _assert_valid(result, 200, 512)
  assert bool(result.converged)
  _assert_near_optimal(cost, result)


def test_scale_and_shift_invariance():
  cost = _point_cloud_cost(2, 32, 32)
  base = assignment.auction(cost)
  scaled = assignment.auction(cost * 1000.0 - 7.0)
  _assert_near_optimal(cost * 1000.0 - 7.0, scaled)
  np.testing.assert_allclose(scaled.prices, base.prices * 1000.0, rtol=1e-3,
                             atol=1e-2)


@pytest.mark.usefixtures("debug_nans")
@pytest.mark.parametrize("bidding", ["gauss_seidel", "jacobi"])
def test_forbidden_pairs_avoided(bidding):
  cost = _point_cloud_cost(3, 16, 16)
  forbidden = np.eye(16, dtype=bool) | np.eye(16, k=1, dtype=bool)
  cost = np.where(forbidden, np.inf, cost).astype(np.float32)
  result = assignment.auction(cost, bidding=bidding)
  _assert_valid(result, 16, 16)
  assert bool(result.converged)
  assert np.all(np.isfinite(cost[np.arange(16), np.asarray(result.assignment)]))
  _assert_near_optimal(cost, result)


def test_forbidden_pairs_unavoidable():
  cost = np.ones((3, 3), np.float32)
  cost[:, 0] = np.inf
  cost[0, :] = np.inf
  result = assignment.auction(cost)
  _assert_valid(result, 3, 3)
  assert not bool(result.converged)


def test_nan_concrete_raises():
  cost = np.ones((3, 3), np.float32)
  cost[1, 2] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    assignment.auction(cost)
  with pytest.raises(ValueError, match="NaN"):
    assignment.auction(np.where(cost == 1.0, -np.inf, 1.0))


def test_nan_traced_not_converged_but_permutation():
  cost = _point_cloud_cost(4, 6, 6)
  cost[2, 3] = np.nan
  result = jax.jit(assignment.auction)(cost)
  _assert_valid(result, 6, 6)
  assert not bool(result.converged)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (5, 3)])
def test_bad_shapes_raise(shape):
  with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(
      ")", r"\)")):
    assignment.auction(np.zeros(shape, np.float32))


@pytest.mark.parametrize("bidding", ["gauss_seidel", "jacobi"])
def test_max_rounds_gives_permutation(bidding):
  cost = _point_cloud_cost(5, 64, 64)
  result = assignment.auction(cost, max_rounds=3, bidding=bidding)
  _assert_valid(result, 64, 64)
  assert not bool(result.converged)
  assert int(result.rounds) <= 3


def test_tiny_eps_is_clamped_and_terminates():
  cost = _point_cloud_cost(6, 32, 32)
  result = assignment.auction(cost, eps_final=1e-12)
  _assert_valid(result, 32, 32)
  assert bool(result.converged)
  total = float(assignment.assignment_cost(cost, result.assignment))
  assert total <= _optimum(cost) * (1 + 1e-5)


@pytest.mark.usefixtures("debug_nans")
def test_warm_start_near_optimal():
  rng = np.random.default_rng(7)
  x = rng.normal(size=(128, 8))
  y = rng.normal(size=(128, 8))
  prices = None
  for _ in range(4):
    x = x + 0.02 * rng.normal(size=x.shape)
    y = y + 0.02 * rng.normal(size=y.shape)
    cost = np.linalg.norm(x[:, None] - y[None], axis=-1).astype(np.float32)
    result = assignment.auction(cost, prices=prices)
    _assert_valid(result, 128, 128)
    assert bool(result.converged)
    _assert_near_optimal(cost, result)
    prices = result.prices


@pytest.mark.usefixtures("debug_nans")
def test_warm_start_rectangular():
  cost = _point_cloud_cost(8, 200, 512)
  cold = assignment.auction(cost)
  warm = assignment.auction(cost * 1.01, prices=cold.prices)
  _assert_valid(warm, 200, 512)
  assert bool(warm.converged)
  _assert_near_optimal(cost * 1.01, warm)


def test_warm_assignment_of_solved_problem_needs_no_bids():
  cost = _point_cloud_cost(10, 64, 64)
  cold = assignment.auction(cost)
  warm = assignment.auction(cost, prices=cold.prices,
                            assignment=cold.assignment)
  assert bool(warm.converged)
  assert int(warm.rounds) == 0
  np.testing.assert_array_equal(warm.assignment, cold.assignment)


@pytest.mark.usefixtures("debug_nans")
@pytest.mark.parametrize("bidding", ["gauss_seidel", "jacobi"])
def test_warm_assignment_drifting(bidding):
  rng = np.random.default_rng(11)
  x = rng.normal(size=(96, 8))
  y = rng.normal(size=(128, 8))
  previous = None
  for _ in range(4):
    x = x + 0.02 * rng.normal(size=x.shape)
    y = y + 0.02 * rng.normal(size=y.shape)
    cost = np.linalg.norm(x[:, None] - y[None], axis=-1).astype(np.float32)
    warm = {} if previous is None else dict(
        prices=previous.prices, assignment=previous.assignment)
    result = assignment.auction(cost, bidding=bidding, **warm)
    _assert_valid(result, 96, 128)
    assert bool(result.converged)
    _assert_near_optimal(cost, result)
    previous = result


def test_warm_assignment_with_invalid_entries():
  cost = _point_cloud_cost(12, 32, 40)
  cold = assignment.auction(cost)
  stale = np.asarray(cold.assignment).copy()
  stale[:4] = stale[4]  # Repeated column: only row 4 keeps it.
  stale[5] = -1
  stale[6] = 40  # Out of range.
  result = assignment.auction(cost * 1.01, prices=cold.prices,
                              assignment=stale)
  _assert_valid(result, 32, 40)
  assert bool(result.converged)
  _assert_near_optimal(cost * 1.01, result)


def test_warm_assignment_needs_prices_and_shape():
  cost = _point_cloud_cost(13, 4, 4)
  with pytest.raises(ValueError, match="prices"):
    assignment.auction(cost, assignment=np.arange(4))
  with pytest.raises(ValueError, match=r"\(4,\)"):
    assignment.auction(cost, prices=np.zeros(4), assignment=np.arange(3))


def test_jit_and_no_retrace():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def solve(cost, prices):
    return assignment.auction(cost, prices=prices)

  chex.clear_trace_counter()
  prices = jnp.zeros((16,))
  for seed in range(3):
    cost = _point_cloud_cost(seed, 16, 16)
    result = solve(cost, prices)
    _assert_near_optimal(cost, result)
    prices = result.prices


def test_eager_calls_share_one_compilation():
  cost = _point_cloud_cost(9, 24, 24)
  assignment.auction(cost, eps_final=1e-4)
  size = assignment.driver._auction._cache_size()  # pylint: disable=protected-access
  for seed in range(3):
    assignment.auction(_point_cloud_cost(seed, 24, 24), eps_final=1e-5 * seed
                       + 1e-5, max_rounds=1000 + seed)
  assert assignment.driver._auction._cache_size() == size  # pylint: disable=protected-access


@pytest.mark.parametrize("bidding", ["gauss_seidel", "jacobi"])
def test_vmap(bidding):
  costs = np.stack([_point_cloud_cost(s, 20, 24) for s in range(4)])
  solve = jax.vmap(
      lambda c, p: assignment.auction(c, prices=p, bidding=bidding))
  cold = solve(costs, jnp.zeros((4, 24)))
  # Warm start with the batched prices of the first solve.
  warm = solve(costs * 1.01, cold.prices)
  for result, scale in [(cold, 1.0), (warm, 1.01)]:
    assert result.assignment.shape == (4, 20)
    assert result.prices.shape == (4, 24)
    assert bool(jnp.all(result.converged))
    for cost, assignment_ in zip(costs * scale, result.assignment):
      _assert_near_optimal(cost, assignment.AuctionResult(
          assignment_, jnp.zeros(24), 0, True))


@pytest.mark.parametrize("n,m", [(1, 1), (5, 5), (6, 9)])
def test_methods_agree(n, m):
  cost = _point_cloud_cost(n + m, n, m)
  totals = {}
  for method in assignment.METHODS:
    result = assignment.match(cost, method=method)
    _assert_valid(result, n, m)
    totals[method] = float(assignment.assignment_cost(cost, result.assignment))
  np.testing.assert_allclose(totals["auction"], totals["scipy"], rtol=1e-5)
  np.testing.assert_allclose(totals["hungarian"], totals["scipy"], rtol=1e-5)


def test_scipy_under_jit_and_vmap():
  costs = np.stack([_point_cloud_cost(s, 6, 6) for s in range(3)])
  result = jax.jit(jax.vmap(assignment.scipy_assignment))(costs)
  for cost, assignment_ in zip(costs, result.assignment):
    assert float(assignment.assignment_cost(cost, assignment_)) == (
        pytest.approx(_optimum(cost), rel=1e-6))


def test_match_unknown_method():
  with pytest.raises(ValueError, match="auction.*hungarian.*scipy"):
    assignment.match(np.zeros((2, 2)), method="sinkhorn")


def test_assignment_cost_batched():
  cost = jnp.arange(2 * 3 * 3, dtype=jnp.float32).reshape(2, 3, 3)
  perm = jnp.asarray([[0, 1, 2], [2, 1, 0]])
  np.testing.assert_allclose(
      assignment.assignment_cost(cost, perm), [0 + 4 + 8, 11 + 13 + 15])


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(
    shape=st.sampled_from([(6, 6), (6, 9)]), seed=st.integers(0, 2**16),
    integer=st.booleans(), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_property_permutation_and_near_optimal(shape, seed, integer, scale):
  # Two fixed shapes: each new shape would cost a compilation.
  rng = np.random.default_rng(seed)
  cost = rng.uniform(-10, 10, size=shape)
  if integer:
    cost = np.round(cost)
  cost = (cost * scale).astype(np.float32)
  result = assignment.auction(cost)
  _assert_valid(result, *shape)
  assert bool(result.converged)
  _assert_near_optimal(cost, result)


# The auction's phases, each on its own (diwgan.assignment.driver / phases).


def test_normalise_maps_finite_costs_to_benefits_in_minus_one_zero():
  cost = jnp.array([[1.0, 3.0, jnp.inf], [2.0, 5.0, 4.0]])
  problem = assignment.driver.normalise(cost)
  np.testing.assert_allclose(
      problem.benefit[:, :2], -(np.array([[1.0, 3.0], [2.0, 5.0]]) - 1) / 4)
  assert float(problem.benefit[0, 2]) == -2.0 * 3  # forbidden: -2 (n + 1)
  assert float(problem.spread) == 4.0 and float(problem.scale) == 4.0
  assert not bool(problem.invalid) and not bool(problem.all_finite)
  nan = assignment.driver.normalise(jnp.array([[1.0, jnp.nan]]))
  assert bool(nan.invalid) and not bool(nan.all_finite)


def test_forward_phase_assigns_everyone_with_eps_slack():
  cost = jnp.asarray(_point_cloud_cost(3, 12, 12))
  benefit = assignment.driver.normalise(cost).benefit
  eps = jnp.float32(0.01)
  for bidding in ("gauss_seidel", "jacobi"):
    carry = (jnp.zeros(12), jnp.full(12, -1, jnp.int32),
             jnp.full(12, -1, jnp.int32), jnp.zeros((), jnp.int32))
    prices, owner, assign, rounds = assignment.phases.forward_phase(
        carry, benefit, eps, jnp.int32(10_000), bidding=bidding,
        bidders_per_round=4, rounds_per_iteration=2)
    assert sorted(np.asarray(assign).tolist()) == list(range(12)), bidding
    np.testing.assert_array_equal(owner[assign], np.arange(12))
    # eps-complementary slackness: each person within eps of its best.
    values = np.asarray(benefit - prices[None, :])
    own = values[np.arange(12), np.asarray(assign)]
    assert np.all(own >= values.max(axis=1) - float(eps) - 1e-6), bidding
    assert int(rounds) > 0


def test_release_violators_and_complete_permutation():
  benefit = jnp.array([[0.0, -1.0], [-1.0, 0.0]])
  prices = jnp.array([0.0, 0.0])
  # Swapped pairs violate 0.5-slackness by 1: both are released.
  owner, assign = assignment.phases.release_violators(
      benefit, prices, jnp.array([1, 0]), jnp.array([1, 0]), jnp.float32(0.5))
  assert assign.tolist() == [-1, -1] and owner.tolist() == [-1, -1]
  # An early stop still returns a permutation: free rows take free columns.
  result = assignment.driver.complete_permutation(
      jnp.array([-1, 0, -1]), jnp.array([1, -1, -1]))
  assert result.tolist() == [1, 0, 2]
