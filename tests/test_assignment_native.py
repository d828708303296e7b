"""The compiled auction kernel against the pure-JAX loop it replaces.

Both run the same bids in the same order with the same float32 arithmetic,
so they must agree bitwise (assignment, prices, bids, convergence) on every
problem; tests/test_assignment.py checks the auction (native by default on
the CPU) against scipy.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from diwgan import assignment
from diwgan import distances

_RECORDED = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks",
                         "data", "ring_costs.npz")


def test_kernel_is_built():
  # The install (pip install -e .) compiles it; CI has a compiler.
  assert assignment.native.available(), assignment.native.unavailable_reason()


def _solve(cost, kernel, **kwargs):
  return jax.jit(lambda c: assignment.auction(c, kernel=kernel, **kwargs))(
      jnp.asarray(cost, jnp.float32))


def _assert_same(cost, **kwargs):
  native = _solve(cost, "native", **kwargs)
  loop = _solve(cost, "jax", **kwargs)
  for name, a, b in zip(native._fields, native, loop):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
  return native


def _cases():
  rng = np.random.default_rng(0)
  cloud = lambda n: np.linalg.norm(  # pylint: disable=g-long-lambda
      rng.normal(size=(n, 1, 8)) - rng.normal(size=(1, n, 8)), axis=-1)
  rank_one = np.outer(rng.uniform(1, 2, 64), rng.uniform(1, 2, 64))
  wide = np.exp(rng.uniform(-14, 14, size=(64, 64)))
  duplicates = np.repeat(np.repeat(cloud(8), 8, axis=0), 8, axis=1)
  forbidden = cloud(64)
  forbidden[rng.uniform(size=forbidden.shape) < 0.3] = np.inf
  np.fill_diagonal(forbidden, 1.0)  # A finite perfect matching exists.
  return {
      "n=1": np.array([[3.0]]),
      "n=2": np.array([[1.0, 2.0], [2.0, 1.0]]),
      "cloud 7": cloud(7),
      "cloud 64": cloud(64),
      "cloud 512": cloud(512),
      "integer ties": rng.integers(0, 4, size=(64, 64)).astype(float),
      # Not a multiple of the kernel's lanes: a vector pass, then a tail.
      "integer ties 100": rng.integers(0, 4, size=(100, 100)).astype(float),
      "cloud 100": cloud(100),
      "all equal": np.full((7, 7), 2.5),
      "rank one": rank_one,
      "wide range": wide,
      "duplicate rows and columns": duplicates,
      "forbidden pairs": forbidden,
  }


@pytest.mark.parametrize("name", list(_cases()))
def test_native_equals_jax_loop(name):
  cost = _cases()[name].astype(np.float32)
  result = _assert_same(cost)
  assert bool(result.converged)
  rows, cols = scipy.optimize.linear_sum_assignment(cost)
  optimum = cost[rows, cols].astype(np.float64).sum()
  total = cost[np.arange(len(cost)), np.asarray(result.assignment)].astype(
      np.float64).sum()
  finite = cost[np.isfinite(cost)]
  spread = float(finite.max() - finite.min())
  n = len(cost)
  assert total <= optimum + n * assignment.default_eps_final(n) * spread + (
      1e-6 * n * np.abs(finite).max())


@pytest.mark.parametrize("phase", [0, 1])
def test_recorded_training_problems(phase):
  data = np.load(_RECORDED)
  for step in (0, 150, 299):
    cost = distances.pairwise_distances(
        data["anchors"], data[f"phase{phase}_latents"][step])
    _assert_same(cost)


def test_options_round_cap_and_warm_start():
  cost = _cases()["cloud 64"].astype(np.float32)
  # The bid cap stops both at the same bid, unconverged.
  capped = _assert_same(cost, max_rounds=100)
  assert not bool(capped.converged) and int(capped.rounds) == 100
  _assert_same(cost, eps_final=1e-3, eps_start=0.5, eps_decay=0.5)
  cold = _solve(cost, "native")
  _assert_same(cost * 1.01 + 0.003, prices=cold.prices,
               assignment=cold.assignment)
  _assert_same(cost + 0.01, prices=cold.prices)


def test_nan_under_jit_is_unconverged_permutation():
  cost = _cases()["cloud 7"].astype(np.float32)
  cost[2, 3] = np.nan
  result = _assert_same(cost)
  assert not bool(result.converged)
  assert sorted(np.asarray(result.assignment).tolist()) == list(range(7))


def test_vmap_scan_and_grad():
  costs = np.stack([_cases()["cloud 64"], _cases()["rank one"]]).astype(
      np.float32)
  batched = jax.jit(jax.vmap(
      lambda c: assignment.auction(c, kernel="native")))(costs)
  looped = jax.jit(jax.vmap(
      lambda c: assignment.auction(c, kernel="jax")))(costs)
  for a, b in zip(batched, looped):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  def body(carry, cost):
    return carry + assignment.auction(cost).rounds, None
  total, _ = jax.jit(lambda cs: jax.lax.scan(body, 0, cs))(costs)
  assert int(total) == sum(
      int(_solve(c, "native").rounds) for c in costs)

  # The matching is a constant of the loss: the gradient flows through the
  # cost only (the DIW term's use).
  def loss(cost):
    chosen = assignment.auction(jax.lax.stop_gradient(cost)).assignment
    return assignment.assignment_cost(cost, chosen)
  grad = jax.grad(loss)(jnp.asarray(costs[0]))
  assert float(grad.sum()) == pytest.approx(64.0)


def test_kernel_choice_is_validated():
  with pytest.raises(ValueError, match="kernel"):
    assignment.auction(np.eye(3, dtype=np.float32), kernel="cuda")


# The kernel is compiled per instruction set and picks one at run time
# (AVX-512, AVX2 or neither); DIWGAN_AUCTION_ISA caps the pick, so that every
# code path runs here whatever the CPU, in a fresh process (the pick is made
# once per process).
_OTHER_PATH = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("native_test", sys.argv[1])
test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test)
cases = test._cases()
for name in ("cloud 100", "integer ties 100", "cloud 512",
             "duplicate rows and columns"):
  test._assert_same(cases[name].astype("float32"))
test.test_recorded_training_problems(1)
print("same")
"""


@pytest.mark.parametrize("isa", ["avx2", "sse"])
def test_every_instruction_set_path_equals_jax_loop(isa):
  done = subprocess.run(
      [sys.executable, "-c", _OTHER_PATH, __file__],
      env={**os.environ, "DIWGAN_AUCTION_ISA": isa}, capture_output=True,
      text=True, check=False, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.strip().endswith("same")
