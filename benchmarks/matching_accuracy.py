r"""Benchmark: how exact DIW-GAN's matching must be (training outcome).

  python -m benchmarks.matching_accuracy
  python -m benchmarks.matching_accuracy --configs=ring,grid --seeds=3 \
      --workdir=runs/matching_accuracy --step_json=benchmarks/results/step.json
  python -m benchmarks.matching_accuracy --only_report  # table only

Trains DIW-GAN at its defaults (`--notuned_learning_rates`, default steps)
with each matching of `VARIANTS` through the comparison harness
(`python -m experiments.compare`, one fresh process per variant, into
`<workdir>/<variant>/`; finished runs are kept, so an interrupted sweep
continues) and tabulates modes, HQS and JSD per variant and data set (mean
(std) over seeds, and each seed). The step cost of each variant comes from
the step benchmark's JSON (`--step_json`, the `diwgan*` rows of
`python -m benchmarks.step`, measured idle in one run), not from these
training runs, which may share the machine. Hours of CPU: ring ~3 min and
grid ~5 min per run on a 2-core CPU.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np

from diwgan.data import mog as mog_data
from experiments import compare
from experiments.configs import mixtures
from experiments import report

# variant -> (harness method, config overrides, step-benchmark row)
VARIANTS = {
    "exact": ("diwgan", ["--config.diw.matcher=scipy"], "diwgan_scipy"),
    "default": ("diwgan", [], "diwgan"),
    "eps1e-3": ("diwgan", ["--config.diw.auction_eps_final=0.001"],
                "diwgan_eps1e-3"),
    "eps1e-2": ("diwgan", ["--config.diw.auction_eps_final=0.01"],
                "diwgan_eps1e-2"),
    "random": ("diwgan_random_match", [], "diwgan_random_match"),
}
DESCRIPTIONS = {
    "exact": "exact (scipy)",
    "default": "auction, default final eps (range / (n + 1) / 100)",
    "eps1e-3": "auction, final eps 1e-3 x range",
    "eps1e-2": "auction, final eps 1e-2 x range",
    "random": "random matching",
}


def run_variant(name, configs, seeds, workdir):
  """Trains what is missing of one variant with the comparison harness."""
  method, overrides, _ = VARIANTS[name]
  command = [sys.executable, "-m", "experiments.compare",
             f"--configs={','.join(configs)}", f"--methods={method}",
             f"--seeds={seeds}", "--notuned_learning_rates",
             f"--workdir={os.path.join(workdir, name)}", *overrides]
  print(" ".join(command[1:]), flush=True)
  subprocess.run(command, check=True)


def _stats(values):
  mean, std = report.mean_std(values)
  return {"mean": mean, "std": std,
          "per_seed": np.asarray(values, np.float64).tolist()}


def collect(name, configs, workdir):
  """Per data set: modes, HQS, JSD over the variant's finished seeds.

  Read from each run's `final_metrics.json`
  (`<workdir>/<variant>/<data set>/<method>/seed<k>/`), so that variants
  trained one data set per harness call are tabulated together.
  """
  method = VARIANTS[name][0]
  out = {}
  for dataset in configs:
    config = mixtures.get_config(dataset)
    num_steps = config.num_steps
    folder = os.path.join(workdir, name, dataset, method)
    runs = []
    for seed_dir in sorted(glob.glob(os.path.join(folder, "seed*"))):
      if compare.run_status(config, seed_dir) != "done":
        continue  # finished runs only, as the harness counts them
      with open(os.path.join(seed_dir, "final_metrics.json")) as f:
        final = json.load(f)
      runs.append((int(os.path.basename(seed_dir)[4:]), final))
    if not runs:
      continue
    runs.sort(key=lambda run: run[0])
    out[dataset] = {
        "seeds": [seed for seed, _ in runs],
        "num_modes": int(mog_data.make_mixture(dataset).means.shape[0]),
        "num_steps": num_steps,
        **{k: _stats([final[k] for _, final in runs])
           for k in ("modes", "hqs", "jsd")},
    }
  return out


def cost_gaps(recorded_path, *, problems):
  """How far each auction eps (and random matching) lands from the optimum.

  On the first `problems` matching problems of each phase of a recorded
  DIW-GAN ring run (`benchmarks/data/ring_costs.npz`, steps 200.. and
  3000..): the total matched cost's excess over scipy's optimum, relative to
  the optimum, and the fraction of anchors given another partner than
  scipy's (ties make the latter an upper bound on what matters).
  """
  from benchmarks import assignment as assignment_benchmark  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from scipy import optimize  # pylint: disable=g-import-not-at-top
  from diwgan import assignment  # pylint: disable=g-import-not-at-top

  solvers = {
      name: jax.jit(
          lambda c, eps=eps: assignment.auction(c, eps_final=eps).assignment)
      for name, eps in (("default", None), ("eps1e-3", 1e-3),
                        ("eps1e-2", 1e-2))}
  rng = np.random.default_rng(0)
  solvers["random"] = lambda c: rng.permutation(c.shape[0])
  gaps = {name: [] for name in solvers}
  changed = {name: [] for name in solvers}
  phases = assignment_benchmark.load_recorded(recorded_path)
  for costs, _ in phases.values():
    for cost in costs[:problems]:
      rows, cols = optimize.linear_sum_assignment(cost.astype(np.float64))
      optimum = cost.astype(np.float64)[rows, cols].sum()
      for name, solve in solvers.items():
        partner = np.asarray(solve(cost))
        total = cost.astype(np.float64)[np.arange(len(partner)), partner].sum()
        gaps[name].append((total - optimum) / optimum)
        changed[name].append(float(np.mean(partner != cols)))
  return {name: {"problems": len(gaps[name]),
                 "relative_excess_mean": float(np.mean(gaps[name])),
                 "relative_excess_max": float(np.max(gaps[name])),
                 "partners_changed_mean": float(np.mean(changed[name]))}
          for name in solvers}


def format_table(table, step_ms):
  lines = ["| data set | matching | modes | HQS % | JSD | ms / step |",
           "| --- | --- | --- | --- | --- | --- |"]
  datasets = []
  for rows in table.values():
    datasets += [d for d in rows if d not in datasets]
  for dataset in datasets:
    for name in VARIANTS:
      row = table.get(name, {}).get(dataset)
      if row is None:
        continue
      def cell(key, scale=1.0, digits=1, row=row):
        stats = row[key]
        per = " / ".join(f"{scale * v:.{digits}f}" for v in stats["per_seed"])
        return (f"{scale * stats['mean']:.{digits}f} "
                f"({scale * stats['std']:.{digits}f}): {per}")

      ms = step_ms.get(VARIANTS[name][2])
      lines.append(
          f"| {dataset} ({row['num_modes']} modes, {row['num_steps']} steps,"
          f" {len(row['seeds'])} seeds) | {DESCRIPTIONS[name]} | "
          f"{cell('modes')} | {cell('hqs', 100.0)} | "
          f"{cell('jsd', 1.0, 3)} | {'-' if ms is None else f'{ms:.2f}'} |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="ring,grid")
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--workdir", default="runs/matching_accuracy")
  parser.add_argument("--step_json", default="benchmarks/results/step.json",
                      help="the step benchmark's output (ms per step)")
  parser.add_argument("--output",
                      default="benchmarks/results/matching_accuracy.json")
  parser.add_argument("--only_report", action="store_true",
                      help="tabulate the finished runs, train nothing")
  parser.add_argument("--recorded", default="benchmarks/data/ring_costs.npz",
                      help="recorded training problems for the cost gaps")
  parser.add_argument("--gap_problems", type=int, default=50,
                      help="problems per recorded phase (0: no cost gaps)")
  args = parser.parse_args(argv)
  variants = args.variants.split(",")
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
  if not args.only_report:
    for name in variants:
      run_variant(name, args.configs.split(","), args.seeds, args.workdir)
  step_ms = {}
  if os.path.exists(args.step_json):
    with open(args.step_json) as f:
      rows = json.load(f).get("steps_per_second", {}).get("rows", {})
    step_ms = {name: row["step_ms"] for name, row in rows.items()}
  table = {name: collect(name, args.configs.split(","), args.workdir)
           for name in variants}
  print(format_table(table, step_ms))
  gaps = {}
  if args.gap_problems and os.path.exists(args.recorded):
    gaps = cost_gaps(args.recorded, problems=args.gap_problems)
    print("\nOn recorded training problems (ring, batch 512), against scipy:")
    print("| auction | problems | total cost over the optimum, mean (max) "
          "| anchors with another partner |")
    print("| --- | --- | --- | --- |")
    for name, row in gaps.items():
      print(f"| {DESCRIPTIONS[name]} | {row['problems']} | "
            f"{100 * row['relative_excess_mean']:.3g}% "
            f"({100 * row['relative_excess_max']:.3g}%) | "
            f"{100 * row['partners_changed_mean']:.1f}% |")
  os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
  with open(args.output, "w") as f:
    json.dump({"variants": {n: {"description": DESCRIPTIONS[n],
                                "method": VARIANTS[n][0],
                                "overrides": VARIANTS[n][1]}
                            for n in variants},
               "table": table, "step_ms": step_ms, "cost_gaps": gaps}, f,
              indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
