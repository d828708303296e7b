r"""Benchmark: training-step time of every method, as a ratio to the plain GAN.

Run from the repository root:

  python -m benchmarks.method_steps
  python -m benchmarks.method_steps --config=ring --batch_size=512 \
      --methods=gan,unrolled,veegan,pacgan,gne,bms_vae_gan,diwgan \
      --chunk=50 --rounds=5 --output=benchmarks/results/method_steps.json
  python -m benchmarks.method_steps --config=stacked_digits \
      --methods=gan,unrolled,veegan,pacgan,gne,bms_vae_gan,diwgan,diwgan_noweights \
      --chunk=20 --output=benchmarks/results/method_steps_stacked_digits.json

Each method is built exactly as `experiments.mog` (or, for an image set,
`experiments.images`) builds it (DIW-GAN variants
pre-train their auto-encoder and draw their anchors first, outside the
timing), its `Trainer.train_steps` of `--chunk` steps is compiled once, and
then the methods are timed in turn, `--rounds` times (interleaved, so that a
change of machine load affects them alike). Reported per method: median
milliseconds per step, wall-clock and process CPU (the steadier measure on a
shared machine), and the ratio to `gan`'s median. Compilation is excluded.
"""

import argparse
import statistics
import sys
import tempfile

import jax

from benchmarks import common
from experiments.configs import image_sets
from experiments.configs import mixtures
from experiments import images
from experiments import mog
from experiments import registry

DEFAULT_METHODS = ("gan", "unrolled", "veegan", "pacgan", "gne", "bms_vae_gan",
                   "diwgan")


def _parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="ring",
                      choices=mixtures.CONFIGS + image_sets.CONFIGS)
  parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
  parser.add_argument("--batch_size", type=int, default=None,
                      help="default: 512 on the mixtures, the image "
                      "config's own batch on an image set")
  parser.add_argument("--chunk", type=int, default=50,
                      help="steps per timed call (one lax.scan)")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--output",
                      default="benchmarks/results/method_steps.json")
  args = parser.parse_args(argv)
  args.methods = args.methods.split(",")
  for name in args.methods:
    if name not in registry.METHODS:
      parser.error(f"unknown method {name!r}; valid: "
                   f"{', '.join(registry.METHODS)}")
  if "gan" not in args.methods:
    args.methods.insert(0, "gan")
  return args


def main(argv):
  args = _parse(argv)
  platform_info = common.machine_info()
  runners = {}
  image_set = args.config in image_sets.CONFIGS
  # An image set's DIW-GAN variants cache their auto-encoder and the digit
  # classifier under the workdir: a scratch folder, removed at the end.
  workdir = tempfile.TemporaryDirectory()
  for name in args.methods:
    if image_set:
      config = image_sets.get_config(args.config)
    else:
      config = mixtures.get_config(args.config)
      config.batch_size = 512
    config.method = name
    if args.batch_size:
      config.batch_size = args.batch_size
    args.batch_size = config.batch_size
    experiment = (images if image_set else mog).build_experiment(
        config, workdir.name)
    train = jax.jit(experiment.trainer.train_steps, static_argnums=1)
    runners[name] = common.continuing(train, experiment.initial_state(),
                                      args.chunk)
    print(f"built {name}", flush=True)

  # The first call of each compiles and warms up, untimed.
  times = {name: {"wall": [1000 * s / args.chunk for s in t.wall],
                  "cpu": [1000 * s / args.chunk for s in t.cpu]}
           for name, t in common.time_calls(runners, args.rounds).items()}

  base = {kind: statistics.median(times["gan"][kind])
          for kind in ("wall", "cpu")}
  rows = {}
  print(f"\n{args.config}, batch {args.batch_size}: ms per step (median of "
        f"{args.rounds} x {args.chunk} steps)")
  print(f"{'method':<22}{'wall':>9}{'cpu':>9}{'wall/gan':>10}{'cpu/gan':>9}")
  for name in args.methods:
    wall = statistics.median(times[name]["wall"])
    cpu = statistics.median(times[name]["cpu"])
    rows[name] = {
        "ms_per_step_wall": wall, "ms_per_step_cpu": cpu,
        "ratio_to_gan_wall": wall / base["wall"],
        "ratio_to_gan_cpu": cpu / base["cpu"],
        "samples_wall": times[name]["wall"], "samples_cpu": times[name]["cpu"],
    }
    print(f"{name:<22}{wall:>9.2f}{cpu:>9.2f}{wall / base['wall']:>9.2f}x"
          f"{cpu / base['cpu']:>8.2f}x")
  results = {
      "platform": platform_info,
      "config": args.config, "batch_size": args.batch_size,
      "chunk": args.chunk, "rounds": args.rounds, "methods": rows,
  }
  common.finish(results, args.output,
                "python -m benchmarks.method_steps " + " ".join(argv))
  workdir.cleanup()

if __name__ == "__main__":
  main(sys.argv[1:])
