r"""Benchmark: auction vs scipy vs optax Hungarian on point-cloud costs.

Run:
  python -m benchmarks.assignment --sizes=64,128,256,512,1024 --repeats=5

Costs are euclidean distances between two standard-normal 8-d point clouds
(the training-step workload). Cold: every solver from scratch. Warm: a
sequence of slowly drifting clouds, the auction reusing the previous prices.
Prints a table and writes JSON to --output.
"""

import argparse
import json
import os
import platform
import time

import jax
import numpy as np
import scipy.optimize

from diwgan import assignment


def _cost(rng, n, dim):
  x = rng.normal(size=(n, dim))
  y = rng.normal(size=(n, dim))
  return _distances(x, y)


def _distances(x, y):
  return np.linalg.norm(x[:, None] - y[None], axis=-1).astype(np.float32)


def _time(fn, *args):
  start = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return time.perf_counter() - start, out


def _scipy_total(cost):
  rows, cols = scipy.optimize.linear_sum_assignment(cost)
  return float(cost[rows, cols].astype(np.float64).sum())


def _total(cost, result):
  cols = np.asarray(result.assignment)
  return float(cost[np.arange(cost.shape[0]), cols].astype(np.float64).sum())


def cold(n, *, repeats, dim, seed, hungarian_max):
  """Median cold times of the three solvers at size n."""
  rng = np.random.default_rng(seed)
  costs = [_cost(rng, n, dim) for _ in range(repeats)]
  auction_fn = assignment.auction
  hungarian_fn = jax.jit(assignment.hungarian)
  jax.block_until_ready(auction_fn(costs[0]))  # Compile.
  run_hungarian = n <= hungarian_max
  if run_hungarian:
    jax.block_until_ready(hungarian_fn(costs[0]))
  times = {"auction": [], "scipy": [], "hungarian": []}
  gaps, rounds, converged = [], [], []
  for cost in costs:
    seconds, result = _time(auction_fn, cost)
    times["auction"].append(seconds)
    rounds.append(int(result.rounds))
    converged.append(bool(result.converged))
    seconds, _ = _time(scipy.optimize.linear_sum_assignment, cost)
    times["scipy"].append(seconds)
    optimum = _scipy_total(cost)
    gaps.append(_total(cost, result) / optimum - 1.0)
    if run_hungarian:
      seconds, _ = _time(hungarian_fn, cost)
      times["hungarian"].append(seconds)
  median = {k: float(np.median(v)) * 1e3 if v else None
            for k, v in times.items()}
  return {
      "n": n,
      "auction_ms": median["auction"],
      "scipy_ms": median["scipy"],
      "hungarian_ms": median["hungarian"],
      "ratio_auction_scipy": median["auction"] / median["scipy"],
      "max_relative_gap": float(max(gaps)),
      "mean_rounds": float(np.mean(rounds)),
      "all_converged": all(converged),
  }


def warm(n, *, steps, drift, dim, seed):
  """Mean times over a drifting sequence, the auction warm-started."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, dim))
  y = rng.normal(size=(n, dim))
  jax.block_until_ready(assignment.auction(_distances(x, y)))  # Compile.
  prices = None
  times = {"warm": [], "cold": [], "scipy": []}
  gaps, rounds = [], []
  for step in range(steps + 1):
    x = x + drift * rng.normal(size=x.shape)
    y = y + drift * rng.normal(size=y.shape)
    cost = _distances(x, y)
    seconds_warm, result = _time(
        lambda c, p: assignment.auction(c, prices=p), cost, prices)
    seconds_cold, _ = _time(assignment.auction, cost)
    seconds_scipy, _ = _time(scipy.optimize.linear_sum_assignment, cost)
    prices = result.prices
    if step == 0:  # The first step has no previous prices.
      continue
    times["warm"].append(seconds_warm)
    times["cold"].append(seconds_cold)
    times["scipy"].append(seconds_scipy)
    rounds.append(int(result.rounds))
    gaps.append(_total(cost, result) / _scipy_total(cost) - 1.0)
  mean = {k: float(np.mean(v)) * 1e3 for k, v in times.items()}
  return {
      "n": n,
      "steps": steps,
      "drift": drift,
      "warm_auction_ms": mean["warm"],
      "cold_auction_ms": mean["cold"],
      "scipy_ms": mean["scipy"],
      "ratio_warm_scipy": mean["warm"] / mean["scipy"],
      "max_relative_gap": float(max(gaps)),
      "mean_warm_rounds": float(np.mean(rounds)),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="64,128,256,512,1024")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--dim", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument(
      "--hungarian_max", type=int, default=512,
      help="skip optax's Hungarian above this n (O(n^3), slow on CPU)")
  parser.add_argument("--warm_sizes", default="256,512")
  parser.add_argument("--warm_steps", type=int, default=10)
  parser.add_argument("--drift", type=float, default=0.02,
                      help="per-step std of the point-cloud random walk")
  parser.add_argument("--output", default="benchmarks/results/assignment.json")
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",") if s]
  warm_sizes = [int(s) for s in args.warm_sizes.split(",") if s]

  cold_rows = []
  print(f"Cold solves, median of {args.repeats} ({args.dim}-d point clouds; "
        f"hungarian skipped above n={args.hungarian_max})")
  print(f"{'n':>6} {'auction ms':>11} {'scipy ms':>9} {'hungarian ms':>13} "
        f"{'auc/scipy':>10} {'max gap':>9} {'rounds':>7}")
  for n in sizes:
    row = cold(n, repeats=args.repeats, dim=args.dim, seed=args.seed,
               hungarian_max=args.hungarian_max)
    cold_rows.append(row)
    hungarian_ms = (f"{row['hungarian_ms']:13.1f}" if row["hungarian_ms"]
                    is not None else f"{'skipped':>13}")
    print(f"{n:6d} {row['auction_ms']:11.1f} {row['scipy_ms']:9.1f} "
          f"{hungarian_ms} {row['ratio_auction_scipy']:10.2f} "
          f"{row['max_relative_gap']:9.1e} {row['mean_rounds']:7.0f}",
          flush=True)

  warm_rows = []
  print(f"\nWarm start: {args.warm_steps} steps of drift {args.drift}, "
        "prices reused (mean)")
  print(f"{'n':>6} {'warm ms':>8} {'cold ms':>8} {'scipy ms':>9} "
        f"{'warm/scipy':>11} {'max gap':>9} {'rounds':>7}")
  for n in warm_sizes:
    row = warm(n, steps=args.warm_steps, drift=args.drift, dim=args.dim,
               seed=args.seed)
    warm_rows.append(row)
    print(f"{n:6d} {row['warm_auction_ms']:8.1f} {row['cold_auction_ms']:8.1f} "
          f"{row['scipy_ms']:9.1f} {row['ratio_warm_scipy']:11.2f} "
          f"{row['max_relative_gap']:9.1e} {row['mean_warm_rounds']:7.0f}",
          flush=True)

  results = {
      "config": vars(args),
      "platform": {
          "machine": platform.machine(), "processor": platform.processor(),
          "cpu_count": os.cpu_count(), "jax": jax.__version__,
          "backend": jax.default_backend(),
          "load_average": os.getloadavg(),
      },
      "cold": cold_rows,
      "warm": warm_rows,
  }
  os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(results, f, indent=2)
  print(f"\nWrote {args.output}")


if __name__ == "__main__":
  main()
