r"""Benchmark: the DIW-GAN training step against the plain GAN step.

Run from the repository root (~6 minutes on a 2-core CPU, most of it the
3,000 training-loop steps of each method and the scipy and pure-JAX
variants):

  python -m benchmarks.step
  python -m benchmarks.step --batch_sizes=128,256,512,1024,2048,4096 \
      --warmup_steps=3000 --output=benchmarks/results/step.json

Three measurements on the ring (`experiments.configs.mixtures.get_config("ring")`,
definitions in docs/benchmarks.md):
- the command itself (`python -m experiments.mog`, in a fresh process)
  trains the plain GAN and DIW-GAN for `--warmup_steps` steps each; the
  loop's own steps/s (median of its logged chunks) is recorded beside
- steps/s at batch 512 under `lax.scan` (chunks of `--chunk` steps, as the
  training loop runs them) of the plain GAN and of DIW-GAN with each matcher
  (auction with the compiled and the pure-JAX Gauss-Seidel loop, Jacobi
  bidding, looser final eps 1e-3 and 1e-2, scipy, random matching), from the loop's final states; the variants are
  interleaved within each repeat, and the loop / benchmark ratio says
  whether the benchmark measures what the command runs;
- the profile of one DIW-GAN step at batch 512: each piece a separately
  jitted function on the warmed state's real inputs, averaged over
  `--profile_problems` fresh noise draws;
- step time vs batch size for gan and diwgan (same warmed parameters; fresh
  anchors of that size; importance buffers filled by one warm-up chunk).
Prints tables and writes JSON to --output.
"""

import argparse
import copy
import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np

from benchmarks import common
from diwgan import assignment
from diwgan import checkpointing
from diwgan import distances
from diwgan import importance
from diwgan import methods
from diwgan.training import StepContext
from experiments.configs import mixtures
from experiments import mog


def _chunk_fn(trainer):
  return jax.jit(trainer.train_steps, static_argnums=1)


def _time_chunks(variants, states, chunk, repeats):
  """Median seconds per step of each variant, interleaved over repeats."""
  fns = {name: functools.partial(_chunk_fn(trainer), states[name], chunk)
         for name, trainer in variants.items()}
  times = common.time_calls(fns, repeats)
  return ({name: float(np.median([w / chunk for w in t.wall]))
           for name, t in times.items()},
          {name: float(np.median([c / chunk for c in t.cpu]))
           for name, t in times.items()})


def _with_matcher(trainer, **fields):
  method = dataclasses.replace(trainer.method, **fields)
  return dataclasses.replace(trainer, method=method)


def loop_warmup(config, steps, chunk, workdir):
  """Trains `config` for `steps` steps with the command itself.

  `python -m experiments.mog` in a fresh process (as a user runs it, so
  nothing of this process's other work shares its memory or threads), into
  `workdir`; its final checkpoint is restored here.

  Returns:
    (experiment, final state, the loop's median steps/s over its logged
    chunks after the first, which compiles).
  """
  config = copy.deepcopy(config)
  config.num_steps = steps
  config.log_every = chunk
  config.eval.every = steps
  config.checkpoint_every = steps
  subprocess.run(
      [sys.executable, "-m", "experiments.mog", f"--config={config.dataset}",
       f"--method={config.method}", f"--workdir={workdir}",
       f"--config.num_steps={steps}", f"--config.log_every={chunk}",
       f"--config.eval.every={steps}", f"--config.checkpoint_every={steps}"],
      check=True, capture_output=True)
  experiment = mog.build_experiment(config, workdir)
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"))
  state = checkpointer.restore(steps, experiment.template_state())
  checkpointer.close()
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rates = [r["steps_per_sec"] for r in map(json.loads, f)
             if r["kind"] == "train"][1:]
  return experiment, state, float(np.median(rates))


def steps_per_second(diw, gan, diw_state, gan_state, *, chunk, repeats):
  """Step time of GAN and of DIW-GAN with each matcher at the config batch."""
  variants = {
      "gan": gan.trainer,
      "diwgan": diw.trainer,
      "diwgan_jax_loop": _with_matcher(
          diw.trainer, auction_options={"kernel": "jax"}),
      "diwgan_jacobi": _with_matcher(
          diw.trainer, auction_options={"bidding": "jacobi"}),
      "diwgan_scipy": _with_matcher(diw.trainer, matcher="scipy"),
      # The looser final eps of docs/method.md's "How exact the matching".
      "diwgan_eps1e-3": _with_matcher(
          diw.trainer, auction_options={"eps_final": 1e-3}),
      "diwgan_eps1e-2": _with_matcher(
          diw.trainer, auction_options={"eps_final": 1e-2}),
      "diwgan_random_match": _with_matcher(
          diw.trainer, random_matching=True),
  }
  states = {name: gan_state if name == "gan" else diw_state
            for name in variants}
  wall, cpu = _time_chunks(variants, states, chunk, repeats)
  rows = {name: {"step_ms": wall[name] * 1e3, "cpu_step_ms": cpu[name] * 1e3,
                 "steps_per_second": 1.0 / wall[name],
                 "ratio_to_gan": wall[name] / wall["gan"],
                 "cpu_ratio_to_gan": cpu[name] / cpu["gan"]}
          for name in variants}
  return rows


def profile(trainer, state, *, problems, repeats):
  """Mean ms of each piece of a DIW-GAN step, separately jitted."""
  method, networks = trainer.method, trainer.networks
  batch = trainer.batch_size
  diw_state = state.method_state
  context = StepContext(step=state.step, axis_name=None)
  gan_method = dataclasses.replace(method, matching=False)
  g_params, d_params = state.generator_params, state.discriminator_params

  @jax.jit
  def discriminator_fwd_bwd(d_params, key):
    real = trainer.sample_real(key, batch)
    return jax.value_and_grad(method.discriminator_loss, has_aux=True)(
        d_params, g_params, diw_state, real, key, context, networks)

  @jax.jit
  def generator_fwd_bwd(g_params, key):
    real = trainer.sample_real(key, batch)
    return jax.value_and_grad(gan_method.generator_loss, has_aux=True)(
        g_params, d_params, diw_state, real, key, context, networks)

  @jax.jit
  def generator_diw_fwd_bwd(g_params, key):
    real = trainer.sample_real(key, batch)
    return jax.value_and_grad(method.generator_loss, has_aux=True)(
        g_params, d_params, diw_state, real, key, context, networks)

  generate = jax.jit(lambda key: networks.generate(g_params, key, batch))
  encode = jax.jit(method.encode)
  pairwise = jax.jit(
      lambda a, l: distances.pairwise_distances(a, l, kind=method.distance))
  # Cold, as DIW-GAN calls it: no prices carry over between steps
  # (`diwgan.methods.diwgan.DIWState`).
  match = jax.jit(lambda c: assignment.match(
      c, method=method.matcher, **dict(method.auction_options)))

  @jax.jit
  def kde_weights(latents, buffers):
    return (importance.generator_weights(
        latents, buffers, bandwidth=method.generator_bandwidth),
            importance.target_weights(buffers))

  @jax.jit
  def diw_term_fwd_bwd(fake, key):
    return jax.grad(
        lambda f: method.diw_term(f, diw_state, key, context)[0])(fake)

  pieces = {
      "discriminator fwd+bwd": lambda x: discriminator_fwd_bwd(d_params, x.key),
      "generator fwd+bwd (adversarial)": lambda x: generator_fwd_bwd(
          g_params, x.key),
      "encoder forward": lambda x: encode(diw_state.encoder_params, x.fake),
      "distances": lambda x: pairwise(diw_state.anchors, x.latents),
      "auction": lambda x: match(x.cost),
      "KDE weights (w_g, w_r)": lambda x: kde_weights(
          x.latents, diw_state.importance),
      "DIW term fwd+bwd (all of the above's DIW part)": lambda x: (
          diw_term_fwd_bwd(x.fake, x.key)),
      "generator fwd+bwd (adversarial + DIW term)": lambda x: (
          generator_diw_fwd_bwd(g_params, x.key)),
  }

  @dataclasses.dataclass
  class Inputs:
    key: jax.Array
    fake: jax.Array
    latents: jax.Array
    cost: jax.Array

  inputs = []
  for index in range(problems):
    key = jax.random.fold_in(jax.random.key(1234), index)
    fake = generate(key)
    latents = encode(diw_state.encoder_params, fake)
    cost = pairwise(diw_state.anchors, latents)
    inputs.append(Inputs(key, fake, latents, cost))
  for piece in pieces.values():  # Compile.
    jax.block_until_ready(piece(inputs[0]))
  wall = {name: [] for name in pieces}
  cpu = {name: [] for name in pieces}
  for _ in range(repeats):
    for x in inputs:
      for name, piece in pieces.items():
        timer, _ = common.timed_call(piece, x)
        wall[name].append(timer.wall)
        cpu[name].append(timer.cpu)
  return {name: {"ms": float(np.mean(wall[name])) * 1e3,
                 "cpu_ms": float(np.mean(cpu[name])) * 1e3}
          for name in pieces}


def step_vs_batch(diw, gan, diw_state, gan_state, batch_sizes, *, repeats,
                  anchor_bandwidth):
  """Seconds per step of gan and diwgan at each batch size."""
  encoder_params = diw_state.method_state.encoder_params
  real_key, anchor_key = jax.random.split(jax.random.key(99))
  real = diw.trainer.sample_real(real_key, 10_000)
  real_latents = diw.trainer.method.encode(encoder_params, real)
  history = diw_state.method_state.importance.latents.shape[0]
  rows = []
  for batch in batch_sizes:
    chunk = int(np.clip(10_240 // batch, 2, 20))
    anchors = methods.draw_anchors(real_latents, anchor_key, batch,
                                       bandwidth=anchor_bandwidth)
    method_state = methods.init_diw_state(
        encoder_params, anchors, history=history)
    variants = {
        "gan": dataclasses.replace(gan.trainer, batch_size=batch),
        "diwgan": dataclasses.replace(diw.trainer, batch_size=batch),
    }
    states = {"gan": gan_state,
              "diwgan": diw_state.replace(method_state=method_state)}
    # One chunk fills the importance buffers (history <= chunk * 2).
    for name, trainer in variants.items():
      fn = _chunk_fn(trainer)
      for _ in range(max(1, -(-history // chunk))):
        states[name], _ = fn(states[name], chunk)
    wall, cpu = _time_chunks(variants, states, chunk, repeats)
    row = {"batch_size": batch, "chunk": chunk}
    for name in variants:
      row[f"{name}_step_ms"] = wall[name] * 1e3
      row[f"{name}_cpu_step_ms"] = cpu[name] * 1e3
    row["ratio"] = wall["diwgan"] / wall["gan"]
    rows.append(row)
    print(f"{batch:6d} {chunk:6d} {row['gan_step_ms']:9.2f} "
          f"{row['diwgan_step_ms']:11.2f} {row['ratio']:8.2f}", flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--warmup_steps", type=int, default=3000,
                      help="steps of the training loop before the timings")
  parser.add_argument("--chunk", type=int, default=100,
                      help="steps per lax.scan call (the training loop's)")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--profile_problems", type=int, default=10)
  parser.add_argument("--batch_sizes", default="128,256,512,1024,2048,4096")
  parser.add_argument("--batch_repeats", type=int, default=2)
  parser.add_argument("--output", default="benchmarks/results/step.json")
  args = parser.parse_args()
  batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
  results = {"config": vars(args), "platform": common.machine_info()}

  config = mixtures.get_config("ring")
  gan_config = mixtures.get_config("ring")
  gan_config.method = "gan"
  with tempfile.TemporaryDirectory() as folder, common.Timer() as timer:
    diw, diw_state, diw_loop_rate = loop_warmup(
        config, args.warmup_steps, args.chunk, os.path.join(folder, "diw"))
    gan, gan_state, gan_loop_rate = loop_warmup(
        gan_config, args.warmup_steps, args.chunk, os.path.join(folder, "gan"))
  results["setup_seconds"] = timer.wall
  loop_ms = {"gan": 1e3 / gan_loop_rate, "diwgan": 1e3 / diw_loop_rate}

  batch = config.batch_size
  print(f"Steps/s at batch {batch}, lax.scan chunks of {args.chunk}, after "
        f"{args.warmup_steps} warm-up steps (median of {args.repeats})")
  rows = steps_per_second(diw, gan, diw_state, gan_state, chunk=args.chunk,
                          repeats=args.repeats)
  for name, ms in loop_ms.items():
    rows[name]["loop_step_ms"] = ms
    rows[name]["loop_over_benchmark"] = ms / rows[name]["step_ms"]
  results["steps_per_second"] = {
      "batch_size": batch, "rows": rows,
      "loop_ratio_to_gan": loop_ms["diwgan"] / loop_ms["gan"]}
  print(f"{'variant':>16} {'ms/step':>8} {'cpu ms':>7} {'steps/s':>8} "
        f"{'x gan':>6} {'cpu x gan':>9}")
  for name, row in rows.items():
    print(f"{name:>16} {row['step_ms']:8.2f} {row['cpu_step_ms']:7.2f} "
          f"{row['steps_per_second']:8.1f} {row['ratio_to_gan']:6.2f} "
          f"{row['cpu_ratio_to_gan']:9.2f}")
  print(f"\nThe training loop itself ({args.warmup_steps} steps, median of "
        f"its {args.chunk}-step chunks): gan {loop_ms['gan']:.2f} ms/step, "
        f"diwgan {loop_ms['diwgan']:.2f} ms/step (x{loop_ms['diwgan'] / loop_ms['gan']:.2f}); "
        f"loop / benchmark: gan {rows['gan']['loop_over_benchmark']:.2f}, "
        f"diwgan {rows['diwgan']['loop_over_benchmark']:.2f}")

  print(f"\nProfile of one DIW-GAN step at batch {batch} (mean over "
        f"{args.profile_problems} problems x {args.repeats}; separately "
        "jitted pieces)")
  pieces = profile(diw.trainer, diw_state, problems=args.profile_problems,
                   repeats=args.repeats)
  results["profile"] = {"batch_size": batch, "pieces": pieces,
                        "step_ms": rows["diwgan"]["step_ms"],
                        "gan_step_ms": rows["gan"]["step_ms"]}
  for name, piece in pieces.items():
    print(f"{name:>48} {piece['ms']:8.2f} ms (cpu {piece['cpu_ms']:.2f})")
  print(f"{'full DIW-GAN step (scan)':>48} {rows['diwgan']['step_ms']:8.2f} ms")
  print(f"{'full GAN step (scan)':>48} {rows['gan']['step_ms']:8.2f} ms")

  print("\nStep time vs batch size (ms/step, median of "
        f"{args.batch_repeats})")
  print(f"{'batch':>6} {'chunk':>6} {'gan':>9} {'diwgan':>11} {'ratio':>8}")
  results["step_vs_batch"] = step_vs_batch(
      diw, gan, diw_state, gan_state, batch_sizes,
      repeats=args.batch_repeats,
      anchor_bandwidth=config.diw.anchor_bandwidth)

  common.finish(results, args.output,
                "python -m benchmarks.step " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
  main()
