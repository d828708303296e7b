r"""Benchmark: auction vs scipy vs optax Hungarian, synthetic and recorded costs.

Run from the repository root:

  python -m benchmarks.assignment
  python -m benchmarks.assignment --sizes=64,128,256,512,1024,2048,4096 \
      --recorded=benchmarks/data/ring_costs.npz --recorded_steps=300

Three scenarios (definitions in docs/benchmarks.md):
- cold: euclidean costs between two standard-normal 8-d point clouds of n
  points, every solver from scratch; matching time vs n (the log-log plot).
- drift: slowly drifting clouds; the auction warm-started from the previous
  call (prices only, and prices + assignment) vs cold vs scipy.
- recorded: the matching problems of a real DIW-GAN ring run
  (`benchmarks/record_costs.py`), solved in training order: the auction
  cold (as DIW-GAN calls it), warm-started with the previous step's prices,
  scipy; and on the first `--baseline_steps` steps of each phase also the
  call DIW-GAN made before issue 4 (Jacobi bidding, warm-started from the
  previous prices at eps 1e-2) and optax's Hungarian.
Solvers are interleaved within each problem. Wall-clock and process-CPU
times are both reported (the CPU time is steadier on a loaded machine).
Prints tables and writes JSON to --output.
"""

import argparse
import sys

import jax
import numpy as np
import scipy.optimize

from benchmarks import common
from diwgan import assignment
from diwgan import distances


def _cloud_cost(rng, n, dim):
  x = rng.normal(size=(n, dim))
  y = rng.normal(size=(n, dim))
  return _distances(x, y)


def _distances(x, y):
  return np.linalg.norm(x[:, None] - y[None], axis=-1).astype(np.float32)


def _scipy(cost):
  _, cols = scipy.optimize.linear_sum_assignment(cost)
  return cols


def _total(cost, cols):
  cols = np.asarray(cols)
  return float(cost[np.arange(cost.shape[0]), cols].astype(np.float64).sum())


def _bound(cost, eps_final=None):
  """n * eps_final * range: the auction's guaranteed gap on this cost."""
  n = cost.shape[0]
  eps = assignment.default_eps_final(n) if eps_final is None else eps_final
  return n * eps * float(cost.max() - cost.min())


class _Stats:
  """Per-solver timings and quality over a set of problems."""

  def __init__(self):
    self.wall, self.cpu, self.rounds, self.converged = [], [], [], []
    self.gaps, self.gap_over_bound = [], []

  def add(self, timer, cost, cols, optimum, result=None):
    self.wall.append(timer.wall)
    self.cpu.append(timer.cpu)
    total = _total(cost, cols)
    self.gaps.append(total / optimum - 1.0)
    self.gap_over_bound.append((total - optimum) / _bound(cost))
    if result is not None:
      self.rounds.append(int(result.rounds))
      self.converged.append(bool(result.converged))

  def summary(self, reduce=np.mean):
    if not self.wall:
      return None
    out = {
        "ms": float(reduce(self.wall)) * 1e3,
        "cpu_ms": float(reduce(self.cpu)) * 1e3,
        "max_relative_gap": float(max(self.gaps)),
        "max_gap_over_bound": float(max(self.gap_over_bound)),
        "problems": len(self.wall),
    }
    if self.rounds:
      out.update(
          mean_rounds=float(np.mean(self.rounds)),
          max_rounds=int(max(self.rounds)),
          all_converged=bool(all(self.converged)),
      )
    return out


def cold(n, *, repeats, dim, seed, hungarian_max, jacobi_max):
  """Median cold times of the solvers at size n."""
  rng = np.random.default_rng(seed)
  costs = [_cloud_cost(rng, n, dim) for _ in range(repeats)]
  hungarian = jax.jit(assignment.hungarian)
  solvers = {
      "auction": lambda c: assignment.auction(c),
      "auction_jax_loop": lambda c: assignment.auction(c, kernel="jax"),
      "jacobi": lambda c: assignment.auction(c, bidding="jacobi"),
      "hungarian": hungarian,
  }
  enabled = {"auction": True, "auction_jax_loop": n <= jacobi_max,
             "jacobi": n <= jacobi_max, "hungarian": n <= hungarian_max}
  for name, solve in solvers.items():  # Compile.
    if enabled[name]:
      jax.block_until_ready(solve(costs[0]))
  stats = {name: _Stats() for name in ["scipy", *solvers]}
  for cost in costs:
    timer, cols = common.timed_call(_scipy, cost)
    optimum = _total(cost, cols)
    stats["scipy"].add(timer, cost, cols, optimum)
    for name, solve in solvers.items():
      if enabled[name]:
        timer, result = common.timed_call(solve, cost)
        stats[name].add(timer, cost, result.assignment, optimum,
                        None if name == "hungarian" else result)
  row = {"n": n, "repeats": repeats}
  for name, stat in stats.items():
    row[name] = stat.summary(np.median)
  row["ratio_auction_scipy"] = row["auction"]["ms"] / row["scipy"]["ms"]
  row["cpu_ratio_auction_scipy"] = (
      row["auction"]["cpu_ms"] / row["scipy"]["cpu_ms"])
  return row


def drift(n, *, steps, drift_std, dim, seed):
  """Mean times over a drifting sequence of clouds, warm vs cold vs scipy."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, dim))
  y = rng.normal(size=(n, dim))
  first = assignment.auction(_distances(x, y))  # Compile.
  assignment.auction(_distances(x, y), prices=first.prices)
  assignment.auction(_distances(x, y), prices=first.prices,
                     assignment=first.assignment)
  warm_prices = warm_full = first
  stats = {k: _Stats() for k in ("scipy", "cold", "warm_prices", "warm")}
  for _ in range(steps):
    x = x + drift_std * rng.normal(size=x.shape)
    y = y + drift_std * rng.normal(size=y.shape)
    cost = _distances(x, y)
    timer, cols = common.timed_call(_scipy, cost)
    optimum = _total(cost, cols)
    stats["scipy"].add(timer, cost, cols, optimum)
    timer, result = common.timed_call(assignment.auction, cost)
    stats["cold"].add(timer, cost, result.assignment, optimum, result)
    timer, warm_prices = common.timed_call(
        assignment.auction, cost, prices=warm_prices.prices)
    stats["warm_prices"].add(timer, cost, warm_prices.assignment, optimum,
                             warm_prices)
    timer, warm_full = common.timed_call(
        assignment.auction, cost, prices=warm_full.prices,
        assignment=warm_full.assignment)
    stats["warm"].add(timer, cost, warm_full.assignment, optimum, warm_full)
  row = {"n": n, "steps": steps, "drift": drift_std}
  for name, stat in stats.items():
    row[name] = stat.summary()
  row["ratio_warm_scipy"] = row["warm"]["ms"] / row["scipy"]["ms"]
  return row


def load_recorded(path):
  """{phase start: (steps, B, B) costs, training prices} of a recording."""
  data = np.load(path)
  anchors = data["anchors"]
  pairwise = jax.jit(distances.pairwise_distances)
  phases = {}
  index = 0
  while f"phase{index}_latents" in data:
    costs = np.stack([np.asarray(pairwise(anchors, latents))
                      for latents in data[f"phase{index}_latents"]])
    phases[int(data[f"phase{index}_start"])] = (
        costs, data[f"phase{index}_prices"])
    index += 1
  return phases


def recorded(costs, initial_prices, *, baseline_steps):
  """The recorded problems in training order, solvers interleaved."""
  hungarian = jax.jit(assignment.hungarian)
  jacobi_previous = dict(bidding="jacobi", eps_start=1e-2)  # Pre-issue-4.
  # Compile every solver once.
  jax.block_until_ready(assignment.auction(costs[0], prices=initial_prices))
  jax.block_until_ready(assignment.auction(costs[0]))
  jax.block_until_ready(assignment.auction(
      costs[0], prices=initial_prices, **jacobi_previous))
  if baseline_steps:
    jax.block_until_ready(hungarian(costs[0]))
  stats = {k: _Stats() for k in (
      "scipy", "auction_warm", "auction_cold", "jacobi_previous_warm",
      "hungarian")}
  warm_prices = jacobi_prices = initial_prices
  for step, cost in enumerate(costs):
    timer, cols = common.timed_call(_scipy, cost)
    optimum = _total(cost, cols)
    stats["scipy"].add(timer, cost, cols, optimum)
    # The previous step's prices passed along (DIW-GAN before issue 4).
    timer, result = common.timed_call(assignment.auction, cost,
                                      prices=warm_prices)
    warm_prices = result.prices
    stats["auction_warm"].add(timer, cost, result.assignment, optimum, result)
    # As DIW-GAN calls it now.
    timer, result = common.timed_call(assignment.auction, cost)
    stats["auction_cold"].add(timer, cost, result.assignment, optimum, result)
    if step < baseline_steps:
      timer, result = common.timed_call(
          assignment.auction, cost, prices=jacobi_prices, **jacobi_previous)
      jacobi_prices = result.prices
      stats["jacobi_previous_warm"].add(timer, cost, result.assignment,
                                        optimum, result)
      timer, result = common.timed_call(hungarian, cost)
      stats["hungarian"].add(timer, cost, result.assignment, optimum)
  row = {"steps": len(costs), "baseline_steps": baseline_steps}
  for name, stat in stats.items():
    row[name] = stat.summary()
  # Ratios over the same problems.
  row["ratio_warm_scipy"] = row["auction_warm"]["ms"] / row["scipy"]["ms"]
  row["cpu_ratio_warm_scipy"] = (
      row["auction_warm"]["cpu_ms"] / row["scipy"]["cpu_ms"])
  row["ratio_cold_scipy"] = row["auction_cold"]["ms"] / row["scipy"]["ms"]
  row["cpu_ratio_cold_scipy"] = (
      row["auction_cold"]["cpu_ms"] / row["scipy"]["cpu_ms"])
  if baseline_steps:
    first = slice(0, baseline_steps)
    scipy_first = float(np.mean(stats["scipy"].wall[first])) * 1e3
    warm_first = float(np.mean(stats["auction_warm"].wall[first])) * 1e3
    row["baseline_scipy_ms"] = scipy_first
    row["baseline_auction_warm_ms"] = warm_first
    row["ratio_jacobi_previous_scipy"] = (
        row["jacobi_previous_warm"]["ms"] / scipy_first)
    row["ratio_hungarian_scipy"] = row["hungarian"]["ms"] / scipy_first
  return row


def _fmt(value, spec):
  return "-" if value is None else format(value, spec)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="64,128,256,512,1024,2048,4096")
  parser.add_argument("--repeats", type=int, default=5,
                      help="cold problems per size (fewer above n=1024)")
  parser.add_argument("--dim", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument(
      "--hungarian_max", type=int, default=1024,
      help="skip optax's Hungarian above this n (O(n^3), slow on CPU)")
  parser.add_argument("--jacobi_max", type=int, default=2048,
                      help="skip the Jacobi auction above this n")
  parser.add_argument("--drift_sizes", default="256,512")
  parser.add_argument("--drift_steps", type=int, default=10)
  parser.add_argument("--drift", type=float, default=0.02,
                      help="per-step std of the point-cloud random walk")
  parser.add_argument("--recorded", default="benchmarks/data/ring_costs.npz",
                      help="recorded training costs ('' to skip)")
  parser.add_argument("--recorded_steps", type=int, default=300,
                      help="steps used per recorded phase")
  parser.add_argument("--baseline_steps", type=int, default=30,
                      help="first steps of each phase that also run the "
                      "previous Jacobi schedule and optax's Hungarian")
  parser.add_argument("--output", default="benchmarks/results/assignment.json")
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",") if s]
  drift_sizes = [int(s) for s in args.drift_sizes.split(",") if s]
  results = {"config": vars(args), "platform": common.machine_info()}

  print(f"Cold solves, median of {args.repeats} (1 above n=2048, 2 above "
        f"n=1024); {args.dim}-d point clouds; auction = default (bidding "
        f"{assignment.driver.resolve_bidding('auto')})")  # pylint: disable=protected-access
  print(f"{'n':>6} {'auction ms':>11} {'jacobi ms':>10} {'scipy ms':>9} "
        f"{'hungarian ms':>13} {'auc/scipy':>10} {'cpu ratio':>10} "
        f"{'max gap':>9} {'bids':>7}")
  results["cold"] = []
  for n in sizes:
    repeats = args.repeats if n <= 1024 else (2 if n <= 2048 else 1)
    row = cold(n, repeats=repeats, dim=args.dim, seed=args.seed,
               hungarian_max=args.hungarian_max, jacobi_max=args.jacobi_max)
    results["cold"].append(row)
    jacobi, hungarian = row["jacobi"], row["hungarian"]
    print(f"{n:6d} {row['auction']['ms']:11.1f} "
          f"{_fmt(jacobi and jacobi['ms'], '10.1f')} "
          f"{row['scipy']['ms']:9.1f} "
          f"{_fmt(hungarian and hungarian['ms'], '13.1f')} "
          f"{row['ratio_auction_scipy']:10.2f} "
          f"{row['cpu_ratio_auction_scipy']:10.2f} "
          f"{row['auction']['max_relative_gap']:9.1e} "
          f"{row['auction']['mean_rounds']:7.0f}", flush=True)

  print(f"\nDrift: {args.drift_steps} steps of drift {args.drift} (mean ms)")
  print(f"{'n':>6} {'warm':>7} {'prices only':>12} {'cold':>7} {'scipy':>7} "
        f"{'warm/scipy':>11} {'max gap':>9} {'warm bids':>10}")
  results["drift"] = []
  for n in drift_sizes:
    row = drift(n, steps=args.drift_steps, drift_std=args.drift,
                dim=args.dim, seed=args.seed)
    results["drift"].append(row)
    print(f"{n:6d} {row['warm']['ms']:7.1f} {row['warm_prices']['ms']:12.1f} "
          f"{row['cold']['ms']:7.1f} {row['scipy']['ms']:7.1f} "
          f"{row['ratio_warm_scipy']:11.2f} "
          f"{row['warm']['max_relative_gap']:9.1e} "
          f"{row['warm']['mean_rounds']:10.0f}", flush=True)

  results["recorded"] = []
  if args.recorded:
    print(f"\nRecorded DIW-GAN ring problems ({args.recorded}), training "
          "order, mean ms (CPU ms)")
    print(f"{'phase':>6} {'steps':>6} {'auction cold':>15} {'warm':>15} "
          f"{'scipy':>15} {'cold/scipy':>11} {'warm/scipy':>11} "
          f"{'bids mean/max':>14} {'converged':>9} {'gap/bound':>9}")
    for start, (costs, prices) in load_recorded(args.recorded).items():
      costs = costs[:args.recorded_steps]
      row = recorded(costs, prices, baseline_steps=args.baseline_steps)
      row["phase_start"] = start
      results["recorded"].append(row)
      warm, cold_, scipy_ = (row["auction_warm"], row["auction_cold"],
                             row["scipy"])
      print(f"{start:6d} {len(costs):6d} "
            f"{cold_['ms']:7.1f} ({cold_['cpu_ms']:5.1f}) "
            f"{warm['ms']:7.1f} ({warm['cpu_ms']:5.1f}) "
            f"{scipy_['ms']:7.1f} ({scipy_['cpu_ms']:5.1f}) "
            f"{row['ratio_cold_scipy']:11.2f} "
            f"{row['ratio_warm_scipy']:11.2f} "
            f"{cold_['mean_rounds']:7.0f}/{cold_['max_rounds']:<6d} "
            f"{str(cold_['all_converged'] and warm['all_converged']):>9} "
            f"{max(cold_['max_gap_over_bound'], warm['max_gap_over_bound']):9.1e}",
            flush=True)
      if args.baseline_steps:
        print(f"{'':6} first {args.baseline_steps} steps: previous Jacobi "
              f"warm {row['jacobi_previous_warm']['ms']:.1f} ms "
              f"({row['ratio_jacobi_previous_scipy']:.2f}x scipy, bids/rounds "
              f"{row['jacobi_previous_warm']['mean_rounds']:.0f}), optax "
              f"Hungarian {row['hungarian']['ms']:.1f} ms "
              f"({row['ratio_hungarian_scipy']:.2f}x scipy)", flush=True)

  common.finish(results, args.output,
                "python -m benchmarks.assignment " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
  main()
