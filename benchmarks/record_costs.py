r"""Records the matching problems of a real DIW-GAN ring run.

Run (about 5 minutes on a 2-core CPU, most of it the auto-encoder and the
~3000 training steps before the second phase):

  python -m benchmarks.record_costs
  python -m benchmarks.record_costs --phases=200,3000 --steps=300

Trains the default ring config (`experiments.configs.mixtures.get_config("ring")`,
batch 512, latent dim 8, matcher as configured, `auction` by default) from
scratch in compiled chunks of `history` (10) steps, and after each chunk reads
the generated latents of its 10 steps out of the importance ring buffer
(`DIWState.importance.latents`, oldest slot at `position`). For every phase
start `s` it keeps steps `s .. s + steps - 1`.

The .npz holds, per phase `p` (0, 1, ...):
  `anchors`: (B, k) the fixed anchors (rows of every cost matrix);
  `phase{p}_start`: () int, the first recorded step;
  `phase{p}_latents`: (steps, B, k) float32 generated latents per step;
  `phase{p}_prices`: (B,) float32 auction prices the run carried into the
    phase's first step (the training warm start);
  `phase{p}_rounds` / `phase{p}_converged`: (steps,) the run's auction
    rounds and convergence flag per step.
Step t's cost matrix is
`diwgan.distances.pairwise_distances(anchors, latents[t])` (euclidean).
"""

import argparse
import json
import os
import time

import jax
import numpy as np

from experiments.configs import mixtures
from experiments import mog

DEFAULT_OUTPUT = "benchmarks/data/ring_costs.npz"


def _chunk_latents(importance) -> np.ndarray:
  """(history, B, k) latents of the last `history` steps, oldest first."""
  latents = np.asarray(importance.latents)
  history = latents.shape[0]
  position = int(importance.position)
  order = (position + np.arange(history)) % history
  return latents[order]


def record(config, *, phases, steps):
  """Trains `config` and returns the recorded arrays and run metadata."""
  experiment = mog.build_experiment(config)
  trainer = experiment.trainer
  chunk = config.diw.history
  if any(p % chunk for p in phases) or steps % chunk:
    raise ValueError(f"phases and steps must be multiples of {chunk}.")
  train_chunk = jax.jit(trainer.train_steps, static_argnums=1)
  start = time.perf_counter()
  state = experiment.initial_state()
  setup_seconds = time.perf_counter() - start
  arrays = {"anchors": np.asarray(state.method_state.anchors)}
  end = max(phases) + steps
  latents = {p: [] for p in phases}
  rounds = {p: [] for p in phases}
  converged = {p: [] for p in phases}
  start = time.perf_counter()
  for chunk_start in range(0, end, chunk):
    for p in phases:
      if chunk_start == p:
        arrays[f"phase{phases.index(p)}_prices"] = np.asarray(
            state.method_state.prices)
    state, metrics = train_chunk(state, chunk)
    for p in phases:
      if p <= chunk_start < p + steps:
        latents[p].append(_chunk_latents(state.method_state.importance))
        rounds[p].append(np.asarray(metrics["auction_rounds"]))
        converged[p].append(np.asarray(metrics["auction_converged"]))
  train_seconds = time.perf_counter() - start
  for index, p in enumerate(phases):
    arrays[f"phase{index}_start"] = np.asarray(p)
    arrays[f"phase{index}_latents"] = np.concatenate(latents[p]).astype(
        np.float32)
    arrays[f"phase{index}_rounds"] = np.concatenate(rounds[p]).astype(
        np.int32)
    arrays[f"phase{index}_converged"] = np.concatenate(converged[p]) > 0.5
  meta = {
      "setup_seconds": setup_seconds,
      "train_seconds": train_seconds,
      "train_steps": end,
      "steps_per_second": end / train_seconds,
  }
  return arrays, meta


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--phases", default="200,3000",
                      help="first recorded step of each phase")
  parser.add_argument("--steps", type=int, default=300,
                      help="consecutive steps recorded per phase")
  parser.add_argument("--matcher", default=None,
                      help="override config.diw.matcher for the run")
  parser.add_argument("--output", default=DEFAULT_OUTPUT)
  args = parser.parse_args()
  phases = sorted(int(p) for p in args.phases.split(",") if p)
  config = mixtures.get_config("ring")
  if args.matcher is not None:
    config.diw.matcher = args.matcher
  arrays, meta = record(config, phases=phases, steps=args.steps)
  meta.update(config=json.loads(config.to_json()), phases=phases,
              steps=args.steps, jax=jax.__version__,
              backend=jax.default_backend())
  arrays["meta"] = np.asarray(json.dumps(meta))
  os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
  np.savez_compressed(args.output, **arrays)
  size_mb = os.path.getsize(args.output) / 2**20
  print(f"Trained {meta['train_steps']} steps at "
        f"{meta['steps_per_second']:.1f} steps/s "
        f"(setup {meta['setup_seconds']:.0f} s).")
  for index, p in enumerate(phases):
    rounds = arrays[f"phase{index}_rounds"]
    converged = arrays[f"phase{index}_converged"]
    print(f"phase {index}: steps {p}..{p + args.steps - 1}, training auction "
          f"rounds mean {rounds.mean():.0f} max {rounds.max()}, "
          f"not converged {int((~converged).sum())}/{len(converged)}")
  print(f"Wrote {args.output} ({size_mb:.1f} MB)")


if __name__ == "__main__":
  main()
