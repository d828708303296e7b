r"""KDE log-density benchmark: diwgan.kde against scipy and jax.scipy.

Run from the repository root:

  python -m benchmarks.kde
  python -m benchmarks.kde --num_points=60000 --dim=8 --num_queries=512 \
      --output=benchmarks/results/kde.json

Measures, for the log density of `num_queries` queries under a Scott's-rule
KDE of `num_points` reference points in `dim` dimensions:
- time: median wall-clock of `--repeats` calls after one warm-up call (jit
  compilation excluded; `block_until_ready` included);
- memory: for the two JAX versions, XLA's temporary buffer size of the
  compiled computation (`compiled.memory_analysis().temp_size_in_bytes`: the
  scratch memory the computation needs beyond its inputs and outputs, which is
  where an O(q x n x d) intermediate would show); for scipy, the tracemalloc
  peak of numpy allocations during one `logpdf` call (a host measure, not
  directly comparable with XLA's);
- agreement: max absolute and relative difference from scipy's float64
  `gaussian_kde.logpdf`.
The data are a fixed-seed mixture of 10 correlated Gaussian clusters.
"""

import argparse
import os
import platform
import sys
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from benchmarks import common
from diwgan import kde as kde_lib


def _data(num_points, dim, num_queries, seed):
  rng = np.random.default_rng(seed)
  centres = rng.normal(scale=3.0, size=(10, dim))
  rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
  scales = rng.uniform(0.5, 1.5, size=dim)
  labels = rng.integers(10, size=num_points + num_queries)
  noise = (rng.normal(size=(num_points + num_queries, dim)) * scales) @ rotation
  data = (centres[labels] + noise).astype(np.float32)
  return data[:num_points], data[num_points:]


def _temp_bytes(jitted, *args):
  analysis = jitted.lower(*args).compile().memory_analysis()
  return None if analysis is None else int(analysis.temp_size_in_bytes)


def run(num_points, dim, num_queries, chunk_size, repeats, seed):
  """Runs the benchmark and returns a JSON-able dict of results."""
  points, queries = _data(num_points, dim, num_queries, seed)
  points64, queries64 = points.astype(np.float64), queries.astype(np.float64)

  # scipy (float64, compiled Cython loop).
  reference_kde = stats.gaussian_kde(points64.T)
  reference = reference_kde.logpdf(queries64.T)
  scipy_time = common.median_seconds(
      lambda: reference_kde.logpdf(queries64.T), max(1, repeats // 3)
  )
  tracemalloc.start()
  reference_kde.logpdf(queries64.T)
  _, scipy_peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()

  # diwgan.kde (float32, chunked scan).
  ours_kde = kde_lib.fit_kde(jnp.asarray(points), bandwidth="scott")
  ours_fn = jax.jit(
      lambda kde, q: kde_lib.kde_log_density(kde, q, chunk_size=chunk_size)
  )
  jax_queries = jnp.asarray(queries)
  ours = np.asarray(ours_fn(ours_kde, jax_queries), np.float64)
  ours_time = common.median_seconds(
      lambda: ours_fn(ours_kde, jax_queries), repeats
  )
  ours_temp = _temp_bytes(ours_fn, ours_kde, jax_queries)
  fit_fn = jax.jit(kde_lib.fit_kde, static_argnames="bandwidth")
  jax_points = jnp.asarray(points)
  fit_time = common.median_seconds(
      lambda: fit_fn(jax_points, bandwidth="scott"), repeats
  )

  # jax.scipy.stats.gaussian_kde (float32, vmapped over all pairs).
  jax_scipy_kde = jax.scipy.stats.gaussian_kde(jax_points.T)
  jax_scipy_fn = jax.jit(lambda kde, q: kde.logpdf(q.T))
  jax_scipy = np.asarray(jax_scipy_fn(jax_scipy_kde, jax_queries), np.float64)
  jax_scipy_time = common.median_seconds(
      lambda: jax_scipy_fn(jax_scipy_kde, jax_queries), repeats
  )
  jax_scipy_temp = _temp_bytes(jax_scipy_fn, jax_scipy_kde, jax_queries)

  def agreement(values):
    error = np.abs(values - reference)
    return {
        "max_abs_error": float(error.max()),
        # Relative to max(|log density|, 1) nats.
        "max_rel_error": float(
            np.max(error / np.maximum(np.abs(reference), 1.0))
        ),
    }

  return {
      "config": {
          "num_points": num_points, "dim": dim, "num_queries": num_queries,
          "chunk_size": chunk_size, "repeats": repeats, "seed": seed,
          "bandwidth": "scott",
      },
      "platform": {
          "jax": jax.__version__, "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()],
          "cpu_count": os.cpu_count(), "python": platform.python_version(),
      },
      "memory_measure": (
          "JAX: compiled.memory_analysis().temp_size_in_bytes (XLA scratch "
          "beyond inputs/outputs); scipy: tracemalloc peak during logpdf"
      ),
      "diwgan": {
          "seconds": ours_time, "fit_seconds": fit_time,
          "temp_bytes": ours_temp, **agreement(ours),
      },
      "scipy": {"seconds": scipy_time, "tracemalloc_peak_bytes": scipy_peak},
      "jax_scipy": {
          "seconds": jax_scipy_time, "temp_bytes": jax_scipy_temp,
          **agreement(jax_scipy),
      },
      "speedup_vs_scipy": scipy_time / ours_time,
      "speedup_vs_jax_scipy": jax_scipy_time / ours_time,
      "temp_memory_ratio_vs_jax_scipy": (
          None if not (ours_temp and jax_scipy_temp)
          else ours_temp / jax_scipy_temp
      ),
  }


def _table(results):
  mib = lambda b: "n/a" if b is None else f"{b / 2**20:.1f} MiB"
  ours, scipy_, jax_scipy = (
      results["diwgan"], results["scipy"], results["jax_scipy"]
  )
  rows = [
      ("implementation", "time (ms)", "memory", "max |err| vs scipy"),
      ("diwgan.kde", f"{1e3 * ours['seconds']:.1f}",
       mib(ours["temp_bytes"]) + " (XLA temp)",
       f"{ours['max_abs_error']:.2e}"),
      ("scipy.stats", f"{1e3 * scipy_['seconds']:.1f}",
       mib(scipy_["tracemalloc_peak_bytes"]) + " (tracemalloc)", "reference"),
      ("jax.scipy.stats", f"{1e3 * jax_scipy['seconds']:.1f}",
       mib(jax_scipy["temp_bytes"]) + " (XLA temp)",
       f"{jax_scipy['max_abs_error']:.2e}"),
  ]
  widths = [max(len(row[i]) for row in rows) for i in range(4)]
  lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  config = results["config"]
  ratio = results["temp_memory_ratio_vs_jax_scipy"]
  lines += [
      "",
      f"n={config['num_points']} d={config['dim']} q={config['num_queries']}"
      f" chunk={config['chunk_size']} on {results['platform']['backend']}",
      f"speed-up vs scipy: {results['speedup_vs_scipy']:.1f}x, "
      f"vs jax.scipy: {results['speedup_vs_jax_scipy']:.1f}x; "
      "XLA temp memory vs jax.scipy: "
      + ("n/a" if ratio is None else f"{ratio:.4f}x"),
      f"diwgan fit_kde: {1e3 * ours['fit_seconds']:.1f} ms",
  ]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_points", type=int, default=60_000)
  parser.add_argument("--dim", type=int, default=8)
  parser.add_argument("--num_queries", type=int, default=512)
  parser.add_argument("--chunk_size", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--output", default="benchmarks/results/kde.json")
  args = parser.parse_args()
  machine = common.machine_info()
  results = run(
      args.num_points, args.dim, args.num_queries, args.chunk_size,
      args.repeats, args.seed,
  )
  results["platform"].update(machine)
  print(_table(results))
  if args.output:
    common.finish(results, args.output, "python -m benchmarks.kde " + " ".join(
        sys.argv[1:]))


if __name__ == "__main__":
  main()
