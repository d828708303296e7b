r"""Scale benchmark: steps/s over device counts and over vmapped seeds.

Run from the repository root:

  python -m benchmarks.scale
  python -m benchmarks.scale --device_counts=1,2,4,8 --num_seeds=10 \
      --steps=10 --batch_size=256 --output=benchmarks/results/scale.json

Measures DIW-GAN (auction matcher) on the ring:
- devices: generator steps/s of one global batch of `--batch_size` split
  over 1, 2, 4, 8 devices (`diwgan.parallel`, shard_map), and the first
  call's time (compilation included);
- matching share: steps/s of the plain GAN (no matching, no KDE) on one
  device beside DIW-GAN's, the part of the step that does not shrink with
  the device count;
- seeds: steps/s of one run vs `--num_seeds` runs vmapped in one program,
  and the wall time of `--num_seeds` x `--steps` steps both ways (one
  vmapped program vs the runs one after the other);
- seed-sharded: run-steps/s of the `--num_seeds` runs split over each device
  count that divides them (`parallelism="seeds"`: each device trains whole
  seeds, no collectives).
Times are the median of `--repeats` calls of a `--steps`-step chunk after a
warm-up call, `block_until_ready` included.

On CPU the devices are emulated (`jax_num_cpu_devices`, set here before JAX
starts): they share the machine's cores, and with batch-sharding every
device computes the whole B x B distances and KDE weights (the matching is
solved once and broadcast), so those numbers show that the sharded path
runs and what it costs, not a speed-up. Seed-sharding splits independent
work, so it can speed up even there. On a GPU/TPU host the real devices are
used.
"""

import argparse

import jax
import numpy as np

# Emulated CPU devices exist only if asked for before the backend starts;
# a GPU/TPU backend ignores it.
jax.config.update("jax_num_cpu_devices", 8)

from benchmarks import common  # pylint: disable=g-import-not-at-top
from benchmarks import summary  # pylint: disable=g-import-not-at-top
from diwgan import parallel  # pylint: disable=g-import-not-at-top
from experiments.configs import mixtures  # pylint: disable=g-import-not-at-top
from experiments import mog  # pylint: disable=g-import-not-at-top
from experiments import runs  # pylint: disable=g-import-not-at-top


def _config(batch_size, seed=0, method="diwgan"):
  config = mixtures.get_config("ring")
  config.method = method
  config.seed = seed
  config.batch_size = batch_size
  config.num_real = 5000
  config.autoencoder.steps = 500
  # Throughput does not depend on the auto-encoder's quality.
  config.autoencoder.max_relative_mse = 1.0
  return config


def _time_chunks(train, state, steps, repeats):
  """(first call seconds, median seconds per chunk) of consecutive chunks."""
  times = common.time_calls(
      {"chunk": common.continuing(train, state, steps)}, repeats)["chunk"]
  return times.first.wall, float(np.median(times.wall))


def run(*, device_counts, num_seeds, steps, repeats, batch_size):
  """Runs the benchmark and returns a JSON-able dict of results."""
  experiment = mog.build_experiment(_config(batch_size))
  initial = experiment.initial_state()
  results = {
      "config": {"dataset": "ring", "method": "diwgan", "matcher": "auction",
                 "batch_size": batch_size, "steps_per_chunk": steps,
                 "repeats": repeats, "num_seeds": num_seeds},
      # Other jobs on the machine slow every row alike: the load is kept.
      "platform": {**common.machine_info(),
                   "devices": jax.device_count(),
                   "emulated_devices": jax.default_backend() == "cpu"},
      "devices": [],
      "seeds": {},
  }
  for count in device_counts:
    if count > jax.device_count():
      continue
    mesh = parallel.make_mesh(count)
    train = parallel.make_train_steps(experiment.trainer, mesh=mesh,
                                      donate=False)
    state = parallel.replicate(initial, mesh) if count > 1 else initial
    first, chunk = _time_chunks(train, state, steps, repeats)
    results["devices"].append({
        "devices": count, "steps_per_sec": steps / chunk,
        "first_call_seconds": first})

  gan = mog.build_experiment(_config(batch_size, method="gan"))
  _, chunk = _time_chunks(
      parallel.make_train_steps(gan.trainer, donate=False),
      gan.initial_state(), steps, repeats)
  results["gan_one_device_steps_per_sec"] = steps / chunk

  # Seeds: each run has its own auto-encoder and anchors (pretrained here).
  config = _config(batch_size)
  config.num_seeds = num_seeds
  seeds = runs.build_runs(lambda c, _: mog.build_experiment(c), config)
  states = seeds.initial_state()
  one = parallel.make_train_steps(experiment.trainer, donate=False)
  many = parallel.make_train_steps(experiment.trainer, vmap_runs=True,
                                   donate=False)
  first_one, chunk_one = _time_chunks(
      one, parallel.select_run(states, 0), steps, repeats)
  first_many, chunk_many = _time_chunks(many, states, steps, repeats)
  results["seeds"] = {
      "one_run_steps_per_sec": steps / chunk_one,
      "vmapped_steps_per_sec": steps / chunk_many,
      "vmapped_run_steps_per_sec": num_seeds * steps / chunk_many,
      "sequential_wall_seconds": num_seeds * chunk_one,
      "vmapped_wall_seconds": chunk_many,
      "speedup_vs_sequential": num_seeds * chunk_one / chunk_many,
      "one_run_first_call_seconds": first_one,
      "vmapped_first_call_seconds": first_many,
  }

  # Seeds split over the devices (parallelism="seeds"): each device trains
  # num_seeds / devices whole seeds, no collectives.
  results["seed_sharded"] = []
  for count in device_counts:
    if count > jax.device_count() or num_seeds % count:
      continue
    mesh = parallel.make_mesh(count)
    train = parallel.make_train_steps(
        experiment.trainer, mesh=mesh, vmap_runs=True, shard_runs=count > 1,
        donate=False)
    placed = parallel.shard_runs_over(states, mesh) if count > 1 else states
    first, chunk = _time_chunks(train, placed, steps, repeats)
    results["seed_sharded"].append({
        "devices": count, "seeds_per_device": num_seeds // count,
        "run_steps_per_sec": num_seeds * steps / chunk,
        "first_call_seconds": first})
  return results


def seed_throughput(*, methods, device_counts, num_seeds, steps, repeats,
                    batch_size):
  """Per method: run-steps/s of seeds one after the other, vmapped, sharded.

  What `experiments.compare` can do with a table's seeds: train them in turn
  (`one`), as one vmapped program on one device (`--vmap_seeds`), or split
  over the devices (`--shard_seeds`). All timed in one process.
  """
  results = {
      "config": {"dataset": "ring", "batch_size": batch_size,
                 "steps_per_chunk": steps, "repeats": repeats,
                 "num_seeds": num_seeds},
      "platform": {**common.machine_info(), "devices": jax.device_count(),
                   "emulated_devices": jax.default_backend() == "cpu"},
      "methods": {},
  }
  for method in methods:
    config = _config(batch_size, method=method)
    config.num_seeds = num_seeds
    seeds = runs.build_runs(lambda c, _: mog.build_experiment(c), config)
    trainer = mog.build_experiment(_config(batch_size, method=method)).trainer
    states = seeds.initial_state()
    _, chunk_one = _time_chunks(
        parallel.make_train_steps(trainer, donate=False),
        parallel.select_run(states, 0), steps, repeats)
    row = {"sequential_run_steps_per_sec": steps / chunk_one, "sharded": []}
    for count in device_counts:
      if count > jax.device_count() or num_seeds % count:
        continue
      mesh = parallel.make_mesh(count)
      train = parallel.make_train_steps(
          trainer, mesh=mesh, vmap_runs=True, shard_runs=count > 1,
          donate=False)
      placed = parallel.shard_runs_over(states, mesh) if count > 1 else states
      _, chunk = _time_chunks(train, placed, steps, repeats)
      row["sharded"].append({
          "devices": count, "run_steps_per_sec": num_seeds * steps / chunk,
          "speedup_vs_sequential": num_seeds * chunk_one / chunk})
    results["methods"][method] = row
    print(method, ", ".join(
        f"{r['devices']} device(s): {r['speedup_vs_sequential']:.2f}x"
        for r in row["sharded"]), "the sequential run-steps/s", flush=True)
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--device_counts", default="1,2,4,8")
  parser.add_argument("--num_seeds", type=int, default=10)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--output", default=None, help=(
      "default benchmarks/results/scale.json, or seed_throughput.json with "
      "--methods"))
  parser.add_argument("--methods", default=None, help=(
      "Only compare, per method of this comma-separated list, its seeds one "
      "after the other, vmapped on one device and split over the devices "
      "(what experiments.compare's --vmap_seeds / --shard_seeds do)."))
  args = parser.parse_args()
  if args.methods:
    results = seed_throughput(
        methods=args.methods.split(","),
        device_counts=[int(c) for c in args.device_counts.split(",")],
        num_seeds=args.num_seeds, steps=args.steps, repeats=args.repeats,
        batch_size=args.batch_size)
    common.finish(
        results, args.output or "benchmarks/results/seed_throughput.json",
        "python -m benchmarks.scale " + " ".join(
            f"--{k}={v}" for k, v in vars(args).items() if k != "output"))
    return
  args.output = args.output or "benchmarks/results/scale.json"
  results = run(
      device_counts=[int(c) for c in args.device_counts.split(",")],
      num_seeds=args.num_seeds, steps=args.steps, repeats=args.repeats,
      batch_size=args.batch_size)
  common.finish(results, args.output, "python -m benchmarks.scale " + " ".join(
      f"--{k}={v}" for k, v in vars(args).items() if k != "output"))
  print("\n".join(summary.scale_section(results)))


if __name__ == "__main__":
  main()
