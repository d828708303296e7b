r"""The device check: correctness, timings and a short ring run on one device.

  python -m benchmarks.accelerator            # on a GPU/TPU host, <= 5 min
  python -m benchmarks.accelerator --small    # any machine, < 3 min on a CPU

On the default device of the backend JAX picks (a GPU or TPU when one is
installed, else the CPU) it checks and times what the accelerator path runs,
and writes `benchmarks/results/accelerator_<device kind>.json` (`--small`:
`accelerator_<device kind>_small.json`), which `python -m benchmarks.summary`
renders into docs/RESULTS.md:

1. correctness on the device: every matcher (the auction with default
   bidding, Jacobi bidding forced, optax's Hungarian, scipy through the host
   callback) against scipy on adversarial costs (integer ties, a wide cost
   range, rank-1 costs, duplicate points, rectangular n < m, n = 1, all
   equal, point clouds) up to n = 4,096; the KDE log-density under the
   device's default matmul precision against scipy in float64; the DIW
   term's gradient against its closed form;
2. timings: matching at n = 64 ... 4,096 (auction cold and warm-started,
   optax's Hungarian, scipy on the host including the transfers), the GAN
   and DIW-GAN steps at batch 512, 10 vmapped DIW-GAN seeds (run-steps/s)
   and the data-parallel DIW-GAN step on all local devices;
3. the ring, trained for 2,000 steps with the default config: modes, HQS.

Every check records pass/fail; the command exits non-zero if one fails.
"""

import argparse
import dataclasses
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.stats

from benchmarks import common
import diwgan
from diwgan import assignment
from diwgan import importance
from diwgan import kde as kde_lib
from diwgan import parallel
from experiments import mog
from experiments.configs import mixtures

# Matchers of the check: name -> (cost -> AuctionResult), all jitted.
MATCHERS = {
    "auction": lambda c: assignment.auction(c),
    "auction_jacobi": lambda c: assignment.auction(c, bidding="jacobi"),
    "hungarian": assignment.hungarian,
    "scipy": assignment.scipy_assignment,
}


@dataclasses.dataclass(frozen=True)
class Sizes:
  """What a full or a --small check covers."""
  check_sizes: tuple  # n of the square adversarial cases
  hungarian_max: int  # optax's Hungarian is O(n^3): skip above
  timing_sizes: tuple
  timing_repeats: int
  batch_size: int
  chunk: int
  seeds: int
  ring_steps: int
  kde_points: int


FULL = Sizes(check_sizes=(1, 7, 64, 512, 4096), hungarian_max=1024,
             timing_sizes=(64, 256, 512, 1024, 2048, 4096), timing_repeats=5,
             batch_size=512, chunk=100, seeds=10, ring_steps=2000,
             kde_points=60_000)
SMALL = Sizes(check_sizes=(1, 64), hungarian_max=64,
              timing_sizes=(64,), timing_repeats=2, batch_size=64,
              chunk=10, seeds=2, ring_steps=50, kde_points=2_000)


def adversarial_costs(n, rng):
  """name -> (n, m) float32 cost matrix of the hard cases."""
  cloud = lambda rows, cols: np.linalg.norm(  # pylint: disable=g-long-lambda
      rng.normal(size=(rows, 1, 8)) - rng.normal(size=(1, cols, 8)), axis=-1)
  cases = {
      "cloud": cloud(n, n),
      "integer ties": rng.integers(0, 4, size=(n, n)).astype(float),
      "wide range": np.exp(rng.uniform(-14, 14, size=(n, n))),
      "rank one": np.outer(rng.uniform(1, 2, n), rng.uniform(1, 2, n)),
      "all equal": np.full((n, n), 2.5),
      "rectangular": cloud(max(n // 2, 1), n),
  }
  if n >= 4:
    points = rng.normal(size=(n // 4, 8))
    duplicated = np.repeat(points, 4, axis=0)[:n]
    cases["duplicate points"] = np.linalg.norm(
        duplicated[:, None] - duplicated[None], axis=-1)
  return {k: v.astype(np.float32) for k, v in cases.items()}


def _total(cost, columns):
  cost = np.asarray(cost, np.float64)
  return cost[np.arange(cost.shape[0]), np.asarray(columns)].sum()


def check_matchers(sizes, rng):
  """Every matcher vs scipy on every case; auction within its n*eps bound."""
  rows = []
  for n in sizes.check_sizes:
    for case, cost in adversarial_costs(n, rng).items():
      _, columns = scipy.optimize.linear_sum_assignment(cost)
      optimum = _total(cost, columns)
      spread = float(cost.max() - cost.min())
      rows_n = cost.shape[0]
      for name, matcher in MATCHERS.items():
        if name == "hungarian" and n > sizes.hungarian_max:
          continue
        result = jax.jit(matcher)(jnp.asarray(cost))
        chosen = np.asarray(result.assignment)
        permutation = len(np.unique(chosen)) == rows_n
        gap = _total(cost, chosen) - optimum
        exact = name in ("hungarian", "scipy")
        bound = (1e-6 * rows_n * max(np.abs(cost).max(), 1.0)
                 + (0.0 if exact else
                    rows_n * assignment.default_eps_final(rows_n) * spread))
        rows.append({"n": n, "case": case, "matcher": name,
                     "gap": float(gap), "bound": float(bound),
                     "converged": bool(result.converged),
                     "ok": bool(permutation and gap <= bound
                                and bool(result.converged))})
  return rows


def check_kde(sizes, rng):
  """KDE log-density (default matmul precision) vs scipy in float64."""
  centres = rng.normal(size=(10, 8)) * 3
  points = (centres[rng.integers(0, 10, sizes.kde_points)]
            + rng.normal(size=(sizes.kde_points, 8)) * 0.3)
  queries = points[rng.integers(0, sizes.kde_points, 512)] + 0.1
  reference = scipy.stats.gaussian_kde(points.T).logpdf(queries.T)
  fitted = kde_lib.fit_kde(jnp.asarray(points, jnp.float32))
  ours = np.asarray(kde_lib.kde_log_density(fitted, jnp.asarray(
      queries, jnp.float32)), np.float64)
  error = np.max(np.abs(ours - reference) / np.maximum(np.abs(reference), 1))
  return {"points": sizes.kde_points, "max_rel_error": float(error),
          "ok": bool(error <= 1e-4)}


def check_diw_gradient(rng):
  """jax.grad of the DIW term against its closed form on the device."""
  anchors = jnp.asarray(rng.normal(size=(64, 8)), jnp.float32)
  latents = jnp.asarray(rng.normal(size=(64, 8)), jnp.float32)
  state = importance.init_importance_state(4, 64, 8)
  state = importance.update_importance_state(
      state, latents + 0.1, jnp.linspace(0.5, 1.5, 64))
  grad, (_, _, aux) = jax.jit(jax.grad(
      lambda x: (lambda out: (out[0], out))(diwgan.diw_term(anchors, x, state)),
      has_aux=True))(latents)
  weights = aux.target_weights * aux.generator_weights[aux.assignment]
  matched = latents[aux.assignment]
  unit = (matched - anchors) / jnp.linalg.norm(matched - anchors, axis=1,
                                               keepdims=True)
  expected = jnp.zeros_like(latents).at[aux.assignment].set(
      weights[:, None] * unit / 64)
  error = float(jnp.max(jnp.abs(grad - expected)))
  return {"max_abs_error": error, "ok": error <= 1e-5}


def time_matching(sizes, rng):
  """ms per solve at each n: auction cold / warm, Hungarian, scipy on host."""
  rows = []
  auction = jax.jit(lambda c, p: assignment.auction(c, prices=p))
  hungarian = jax.jit(assignment.hungarian)
  for n in sizes.timing_sizes:
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = rng.normal(size=(n, 8)).astype(np.float32)
    cost = jnp.asarray(np.linalg.norm(x[:, None] - y[None], axis=-1))
    moved = jnp.asarray(np.linalg.norm(
        x[:, None] - (y + 0.01 * rng.normal(size=y.shape))[None], axis=-1),
                        jnp.float32)
    zeros = jnp.zeros((n,), jnp.float32)
    row = {"n": n}
    row["auction_cold_ms"] = 1e3 * common.median_seconds(
        lambda: auction(cost, zeros), sizes.timing_repeats)
    warm_prices = auction(cost, zeros).prices
    row["auction_warm_ms"] = 1e3 * common.median_seconds(
        lambda: auction(moved, warm_prices), sizes.timing_repeats)

    def scipy_host():
      host = np.asarray(jax.device_get(cost))
      _, columns = scipy.optimize.linear_sum_assignment(host)
      return jax.device_put(columns)

    row["scipy_host_ms"] = 1e3 * common.median_seconds(scipy_host,
                                                       sizes.timing_repeats)
    if n <= sizes.hungarian_max:
      row["hungarian_ms"] = 1e3 * common.median_seconds(
          lambda: hungarian(cost), max(1, sizes.timing_repeats // 2))
    row["auction_over_scipy"] = row["auction_cold_ms"] / row["scipy_host_ms"]
    if "hungarian_ms" in row:
      row["hungarian_over_auction"] = (row["hungarian_ms"]
                                       / row["auction_cold_ms"])
    rows.append(row)
  return rows


def _config(sizes, method="diwgan", num_steps=None):
  config = mixtures.get_config("ring")
  config.method = method
  config.batch_size = sizes.batch_size
  if sizes is SMALL:
    config.num_real = 2000
    config.autoencoder.steps = 300
    config.autoencoder.max_relative_mse = 1.0
    config.eval.num_samples = 500
  if num_steps is not None:
    config.num_steps = num_steps
  return config


def time_steps(sizes):
  """GAN and DIW-GAN ms per step, vmapped seeds and data parallel."""
  out = {}
  experiments = {m: mog.build_experiment(_config(sizes, m))
                 for m in ("gan", "diwgan")}
  states = {m: e.initial_state() for m, e in experiments.items()}
  for name, experiment in experiments.items():
    train = parallel.make_train_steps(experiment.trainer, donate=False)
    seconds = common.median_seconds(
        lambda: train(states[name], sizes.chunk)[1], sizes.timing_repeats)
    out[f"{name}_step_ms"] = 1e3 * seconds / sizes.chunk
  out["diwgan_over_gan"] = out["diwgan_step_ms"] / out["gan_step_ms"]

  # The vmapped runs start from copies of one state: the same work per run
  # as independent seeds.
  diw = experiments["diwgan"]
  stacked = parallel.stack_runs([states["diwgan"]] * sizes.seeds)
  train = parallel.make_train_steps(diw.trainer, vmap_runs=True,
                                    donate=False)
  seconds = common.median_seconds(lambda: train(stacked, sizes.chunk)[1],
                                  sizes.timing_repeats)
  out["vmapped_seeds"] = sizes.seeds
  out["vmapped_run_steps_per_sec"] = sizes.seeds * sizes.chunk / seconds

  mesh = parallel.make_mesh(0)
  out["devices"] = mesh.size
  # One device: the data-parallel step is the plain step timed above.
  if mesh.size > 1 and sizes.batch_size % mesh.size == 0:
    train = parallel.make_train_steps(diw.trainer, mesh=mesh, donate=False)
    replicated = parallel.replicate(states["diwgan"], mesh)
    seconds = common.median_seconds(
        lambda: train(replicated, sizes.chunk)[1], sizes.timing_repeats)
    out["data_parallel_step_ms"] = 1e3 * seconds / sizes.chunk
  return out


def train_ring(sizes, workdir):
  """The ring with the default config for `ring_steps` steps."""
  config = _config(sizes, num_steps=sizes.ring_steps)
  config.eval.every = sizes.ring_steps
  config.checkpoint_every = sizes.ring_steps
  config.log_every = min(config.log_every, sizes.ring_steps)
  start = time.perf_counter()
  final = mog.train_and_evaluate(config, workdir)
  return {"steps": sizes.ring_steps, "seconds": time.perf_counter() - start,
          **{k: final[k] for k in ("modes", "strict_modes", "hqs", "jsd")}}


def run(sizes, workdir):
  """All checks and timings; a JSON-able dict."""
  rng = np.random.default_rng(0)
  results = {"platform": common.machine_info(),
             "small": sizes is SMALL,
             "native_kernel": assignment.native.available()}
  with common.Timer() as timer:
    results["matchers"] = check_matchers(sizes, rng)
    results["kde"] = check_kde(sizes, rng)
    results["diw_gradient"] = check_diw_gradient(rng)
    results["matching_ms"] = time_matching(sizes, rng)
    results["steps"] = time_steps(sizes)
    results["ring"] = train_ring(sizes, workdir)
  results["seconds"] = timer.wall
  failed = [f"{r['matcher']} n={r['n']} {r['case']}"
            for r in results["matchers"] if not r["ok"]]
  failed += [name for name in ("kde", "diw_gradient")
             if not results[name]["ok"]]
  results["failed"] = failed
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true",
                      help="small sizes: a few minutes on a CPU (the tests)")
  parser.add_argument("--output", default=None,
                      help="JSON path (default benchmarks/results/"
                      "accelerator_<device kind>[_small].json)")
  parser.add_argument("--workdir", default="runs/accelerator")
  args = parser.parse_args(argv)
  sizes = SMALL if args.small else FULL
  kind = jax.devices()[0].device_kind.replace(" ", "_").lower()
  output = args.output or os.path.join(
      "benchmarks", "results",
      f"accelerator_{kind}{'_small' if args.small else ''}.json")
  print(f"Device check on {jax.devices()[0].device_kind} "
        f"({jax.default_backend()}), {'small' if args.small else 'full'} "
        "sizes", flush=True)
  results = run(sizes, os.path.join(args.workdir, kind))
  for row in results["matching_ms"]:
    print(f"n={row['n']:5d}: auction {row['auction_cold_ms']:.2f} ms cold, "
          f"{row['auction_warm_ms']:.2f} warm; scipy (host) "
          f"{row['scipy_host_ms']:.2f}; Hungarian "
          f"{row.get('hungarian_ms', float('nan')):.2f}")
  print("steps:", {k: round(v, 3) for k, v in results["steps"].items()})
  print("ring:", results["ring"])
  print("failed:", results["failed"] or "none")
  common.finish(results, output, "python -m benchmarks.accelerator "
                + " ".join(sys.argv[1:] if argv is None else argv))
  return 1 if results["failed"] else 0


if __name__ == "__main__":
  sys.exit(main())
