r"""Benchmark: the README command end to end, as a user runs it.

  python -m benchmarks.time_to_quality
  python -m benchmarks.time_to_quality --methods=diwgan,pacgan --seeds=0,1,2 \
      --configs=ring --output=benchmarks/results/time_to_quality.json
  python -m benchmarks.time_to_quality --methods=diwgan --seeds=0 \
      --overrides="--config.num_steps=6000" --tag=steps6000

Runs `python -m experiments.mog --config=<config> --method=<method>
--config.seed=<seed> <overrides>` as a fresh process per run, one after the
other (never two at once: the timings are of an otherwise idle machine),
into `<root>/<tag>/<config>_<method>_seed<seed>`, and records per run:
- `wall_seconds`: the whole command, process start to exit (imports,
  auto-encoder, compilation, training, evaluations, checkpoints, plots);
- `seconds_to_quality` / `steps_to_quality`: from the run's
  `final_metrics.json`, the first evaluation with every mode and HQS >=
  `eval.quality_hqs` (80%), seconds counted from the process start;
- `seconds_first_chunk`: from the process start to the end of the first
  logged chunk of steps (imports, set-up, the first evaluation and the
  step's compilation: what the compilation cache shortens);
- `steps_per_sec`: the median over the run's `metrics.jsonl` train records
  (the loop's own rate; the first chunk, which compiles, left out), and
  `steps_per_sec_first` over its first `FIRST_STEPS` (1,500) steps alone;
- the final modes, strict modes, HQS and JSD, and the load average before
  and after the run.

The compiled programs (`experiments.compilation_cache`), `--compilation_cache`:
- `cold` (default): each run starts with an empty cache of its own,
  `<workdir>/jax_cache`, and fills it: a user's first run;
- `warm`: the runs of a tag share `<root>/<tag>/jax_cache`, which an untimed
  run of the same config and method (the first seed, into
  `<root>/<tag>/warmup_<config>_<method>`) fills first: a user's later runs;
- `off`: no cache (`--compilation_cache=`), as every run was before the
  cache existed.

Results already in `--output` (same tag, config, method, seed) are kept and
not rerun, so an interrupted sweep continues where it stopped; `--reread`
recomputes their run-file fields from the workdirs still on disk.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import common


# The loop's rate is also recorded over its first steps alone (logged chunks
# up to this step, the compiling one left out).
FIRST_STEPS = 1500


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


CACHE_MODES = ("cold", "warm", "off")


def run_one(config, method, seed, overrides, workdir, cache="cold"):
  """Runs one command into a fresh `workdir`; returns its measurements.

  `cache`: "cold" (a fresh cache in the workdir), "off", or the folder of a
  shared cache.
  """
  if os.path.exists(workdir):
    raise FileExistsError(
        f"{workdir} exists: a resumed run would not time the whole command; "
        "remove it or use another --root/--tag.")
  cache_dir = {"cold": os.path.join(workdir, "jax_cache"),
               "off": ""}.get(cache, cache)
  command = [sys.executable, "-m", "experiments.mog", f"--config={config}",
             f"--method={method}", f"--config.seed={seed}",
             f"--workdir={workdir}", f"--compilation_cache={cache_dir}",
             *overrides]
  load_before = list(os.getloadavg())
  start = time.perf_counter()
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  wall = time.perf_counter() - start
  if done.returncode:
    return {"error": done.stderr[-2000:], "wall_seconds": wall,
            "command": " ".join(command[1:])}
  return {
      "command": "python " + " ".join(command[1:]),
      "wall_seconds": wall,
      **measure(workdir),
      "load_average_before": load_before,
      "load_average_after": list(os.getloadavg()),
  }


def measure(workdir):
  """What a finished run's own files say: time to quality, the loop's
  rates, the final metrics."""
  with open(os.path.join(workdir, "final_metrics.json")) as f:
    final = json.load(f)
  train = [r for r in _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
           if r["kind"] == "train"]
  # The first logged chunk compiles; left out of both rates.
  timed = train[1:] or train[:1]
  first = [r for r in timed if r["step"] <= FIRST_STEPS] or timed[:1]
  return {
      "seconds_first_chunk": train[0]["seconds"],
      "seconds_to_quality": final.get("seconds_to_quality"),
      "steps_to_quality": final.get("steps_to_quality"),
      "steps_per_sec": float(np.median([r["steps_per_sec"] for r in timed])),
      "steps_per_sec_first": float(
          np.median([r["steps_per_sec"] for r in first])),
      "steps": final["step"],
      **{k: final[k] for k in ("modes", "strict_modes", "hqs", "jsd")},
  }


def _workdir(run):
  (flag,) = [part for part in run["command"].split()
             if part.startswith("--workdir=")]
  return flag.split("=", 1)[1]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="ring")
  parser.add_argument("--methods", default="diwgan,pacgan")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--overrides", default="",
                      help="extra flags for every run, space separated")
  parser.add_argument("--tag", default="defaults",
                      help="name of this setting in the output")
  parser.add_argument("--root", default="runs/time_to_quality")
  parser.add_argument(
      "--compilation_cache", choices=CACHE_MODES, default="cold",
      help="cold: each run fills a fresh cache; warm: a shared cache filled "
      "first by an untimed run; off: none (see the module's docstring)")
  parser.add_argument("--output",
                      default="benchmarks/results/time_to_quality.json")
  parser.add_argument(
      "--reread", action="store_true",
      help="recompute what each run's own files say (measure()) for the "
      "runs already in --output whose workdir is still there, and exit: "
      "wall clock and load averages are kept, nothing is rerun")
  args = parser.parse_args()
  results = {"runs": []}
  if os.path.exists(args.output):
    with open(args.output) as f:
      results = json.load(f)
  if args.reread:
    for run in results["runs"]:
      if "error" not in run and os.path.isdir(_workdir(run)):
        run.update(measure(_workdir(run)))
    with open(args.output, "w") as f:
      json.dump(results, f, indent=2)
    print(f"Reread {args.output}")
    return
  results["platform"] = common.machine_info()
  overrides = args.overrides.split()
  done = {(r["tag"], r["config"], r["method"], r["seed"])
          for r in results["runs"] if "error" not in r}
  results["runs"] = [r for r in results["runs"] if "error" not in r]
  seeds = [int(s) for s in args.seeds.split(",")]
  for config in args.configs.split(","):
    for method in args.methods.split(","):
      cache = args.compilation_cache
      if cache == "warm":
        cache = os.path.join(args.root, args.tag, "jax_cache")
        warmup = os.path.join(args.root, args.tag,
                              f"warmup_{config}_{method}")
        if not all((args.tag, config, method, seed) in done
                   for seed in seeds) and not os.path.exists(warmup):
          filled = run_one(config, method, seeds[0], overrides, warmup, cache)
          if "error" in filled:
            raise RuntimeError(f"The warm-up run failed: {filled['error']}")
      for seed in seeds:
        if (args.tag, config, method, seed) in done:
          continue
        workdir = os.path.join(args.root, args.tag,
                               f"{config}_{method}_seed{seed}")
        row = {"tag": args.tag, "config": config, "method": method,
               "seed": seed, "overrides": args.overrides,
               "compilation_cache": args.compilation_cache,
               **run_one(config, method, seed, overrides, workdir, cache)}
        results["runs"].append(row)
        print(json.dumps({k: v for k, v in row.items()
                          if k not in ("command", "error")}), flush=True)
        if "error" in row:
          print(row["error"], file=sys.stderr)
        # Written after every run: an interrupted sweep loses nothing.
        common.finish(results, args.output,
                      "python -m benchmarks.time_to_quality "
                      + " ".join(sys.argv[1:]))


if __name__ == "__main__":
  main()
