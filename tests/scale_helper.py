"""Multi-device and multi-process scenarios of tests/test_scale.py.

The emulated CPU device count must be fixed before JAX starts its backend, so
tests/test_scale.py runs these scenarios in fresh processes with
`JAX_NUM_CPU_DEVICES` (the `jax_num_cpu_devices` option) set:

  JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES=8 \
    python tests/scale_helper.py devices --workdir=W --out=result.json
  JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES=2 \
    python tests/scale_helper.py distributed --workdir=W --out=p0.npz \
      --coordinator_address=127.0.0.1:PORT --num_processes=2 --process_id=0

Each scenario writes its measurements (JSON) or final parameters (npz); the
assertions live in the test file.
"""

import argparse
import dataclasses
import functools
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from diwgan import checkpointing  # pylint: disable=g-import-not-at-top
from diwgan import parallel  # pylint: disable=g-import-not-at-top
from experiments import cli  # pylint: disable=g-import-not-at-top
from experiments.configs import mixtures  # pylint: disable=g-import-not-at-top
from experiments import loop  # pylint: disable=g-import-not-at-top
from experiments import mog  # pylint: disable=g-import-not-at-top
from experiments import runs  # pylint: disable=g-import-not-at-top

STEPS = 20
DEVICE_COUNTS = (2, 4, 8)
NOISY_METHODS = ("veegan", "bms_vae_gan")
NOISY_STEPS = 5


def tiny_config(method="diwgan", *, matcher="auction", num_steps=STEPS):
  """Batch 64, a short auto-encoder: a few seconds of pretraining."""
  config = mixtures.get_config("ring")
  config.method = method
  config.num_steps = num_steps
  config.batch_size = 64
  config.num_real = 2000
  config.autoencoder.steps = 300
  config.autoencoder.batch_size = 256
  # The matching only needs a deterministic encoder, not a good one.
  config.autoencoder.max_relative_mse = 1.0
  config.diw.matcher = matcher
  config.log_every = 10
  config.checkpoint_every = num_steps
  config.eval.every = num_steps
  config.eval.num_samples = 256
  return config


def leaves(tree):
  """Float64 numpy leaves of a pytree (PRNG keys as their key data)."""
  def as_array(x):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    return np.asarray(x, np.float64)
  return [as_array(x) for x in jax.tree.leaves(tree)]


def differences(reference, other):
  """Max abs and relative L2 norm of `other - reference` over a pytree."""
  ref = np.concatenate([np.zeros(0)] + [x.ravel() for x in leaves(reference)])
  out = np.concatenate([np.zeros(0)] + [x.ravel() for x in leaves(other)])
  if not ref.size:
    return {"max_abs": 0.0, "relative_l2": 0.0}
  return {
      "max_abs": float(np.max(np.abs(out - ref))),
      "relative_l2": float(np.linalg.norm(out - ref)
                           / max(np.linalg.norm(ref), 1e-30)),
  }


def compare_devices(trainer, state, *, steps, counts):
  """`steps` steps on 1 device (plain jit) and on each device count."""
  one, one_metrics = parallel.make_train_steps(trainer, donate=False)(
      state, steps)
  results = {}
  for count in counts:
    mesh = parallel.make_mesh(count)
    many, metrics = parallel.make_train_steps(
        trainer, mesh=mesh, donate=False)(parallel.replicate(state, mesh),
                                          steps)
    many = parallel.local_copy(many)
    results[str(count)] = {
        "generator": differences(one.generator_params, many.generator_params),
        "discriminator": differences(one.discriminator_params,
                                     many.discriminator_params),
        "method_state": differences(one.method_state, many.method_state),
        "g_loss_max_abs": float(np.max(np.abs(
            np.asarray(metrics["g_loss"]) - np.asarray(one_metrics["g_loss"])
        ))),
    }
  return results


def auction_run(trainer, state, *, steps, count):
  """The auction's 1-device and `count`-device losses; are replicas equal?

  The auction returns one of many eps-optimal assignments, chosen by its
  bidding path, and a last-bit change of the costs changes the path: the
  runs agree at step 1 and drift apart from step 2 (a one-ulp change of the
  parameters on one device drifts the same way). What must hold on every
  step is that all devices keep bitwise the same state.
  """
  _, one_metrics = parallel.make_train_steps(trainer, donate=False)(
      state, steps)
  mesh = parallel.make_mesh(count)
  sharded = dataclasses.replace(trainer, axis_name=parallel.DATA_AXIS)
  spec = jax.sharding.PartitionSpec

  def copies(state):
    new_state, metrics = sharded.train_steps(state, steps)
    return jax.tree.map(lambda x: x[None], (new_state, metrics))

  stacked, metrics = jax.jit(jax.shard_map(
      copies, mesh=mesh, in_specs=spec(), out_specs=spec(parallel.DATA_AXIS),
      check_vma=False))(parallel.replicate(state, mesh))
  g_loss = np.abs(np.asarray(metrics["g_loss"], np.float64)[0]
                  - np.asarray(one_metrics["g_loss"], np.float64))
  return {
      "g_loss_abs_difference_per_step": [float(x) for x in g_loss],
      "replicas_identical": all(
          bool(np.all(x == x[:1])) for x in leaves((stacked, metrics))),
  }


def save_leaves(path, tree):
  """Saves a pytree's leaves in their own dtypes (PRNG keys as key data)."""
  np.savez(path, *[
      np.asarray(jax.random.key_data(x)
                 if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
      for x in jax.tree.leaves(tree)])


def load_leaves(path, template):
  """The pytree `save_leaves` saved, in the structure of `template`."""
  saved = np.load(path)
  flat, treedef = jax.tree.flatten(template)
  restored = []
  for i, like in enumerate(flat):
    value = jnp.asarray(saved[f"arr_{i}"])
    if jnp.issubdtype(like.dtype, jax.dtypes.prng_key):
      value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(like))
    restored.append(value)
  return jax.tree.unflatten(treedef, restored)


def capture_last_evaluated(experiment):
  """The experiment, and a dict whose "state" is the last state evaluated."""
  captured = {}
  original = experiment.evaluate

  def evaluate(state):
    captured["state"] = state
    return original(state)

  return dataclasses.replace(experiment, evaluate=evaluate), captured


SHARDED_SEEDS = 8
SHARDED_STEPS = 10


def seed_sharding(workdir):
  """8 seeds split over 1, 2, 4, 8 devices vs each seed alone on one device.

  Returns, per device count, each seed's generator and discriminator
  differences to the seed trained alone; the same for the training loop on
  8 devices (parallelism="seeds"); and the error for 8 seeds on 3 devices.
  """
  config = tiny_config("diwgan", matcher="scipy", num_steps=SHARDED_STEPS)
  seeds = list(range(SHARDED_SEEDS))
  singles = [mog.build_experiment(runs.seed_config(config, s)) for s in seeds]
  initial = [e.initial_state() for e in singles]
  one_device = parallel.make_train_steps(singles[0].trainer, donate=False)
  alone = [one_device(state, SHARDED_STEPS)[0] for state in initial]

  def compare(final):
    return [{
        "generator": differences(alone[i].generator_params,
                                 parallel.select_run(final, i).generator_params),
        "discriminator": differences(
            alone[i].discriminator_params,
            parallel.select_run(final, i).discriminator_params),
    } for i in range(SHARDED_SEEDS)]

  results = {}
  stacked = parallel.stack_runs(initial)
  for count in (1,) + DEVICE_COUNTS:
    mesh = parallel.make_mesh(count)
    train = parallel.make_train_steps(
        singles[0].trainer, mesh=mesh, vmap_runs=True, shard_runs=count > 1,
        donate=False)
    placed = parallel.shard_runs_over(stacked, mesh) if count > 1 else stacked
    final, metrics = train(placed, SHARDED_STEPS)
    results[str(count)] = {
        "runs": compare(parallel.local_copy(final)),
        "sharded": count > 1 and not final.step.sharding.is_fully_replicated,
        "metrics_shape": list(np.shape(metrics["g_loss"])),
    }

  # The training loop on 8 devices, seeds split over them.
  config.num_seeds = SHARDED_SEEDS
  config.parallelism = "seeds"
  config.num_devices = 8
  cached = [dataclasses.replace(e, initial_state=lambda s=s: s)
            for e, s in zip(singles, initial)]
  experiment, captured = capture_last_evaluated(
      runs.stack_seeds(cached, seeds))
  final = loop.train(experiment, config, workdir)
  with open(os.path.join(workdir, "final_metrics.json")) as f:
    written = json.load(f)
  checkpointer = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"))
  restored = checkpointer.restore(
      checkpointer.latest_step(),
      parallel.stack_runs([e.template_state() for e in singles]))
  checkpointer.close()
  results["loop"] = {
      "runs": compare(captured["state"]),
      # The stacked checkpoint holds every seed's own state.
      "restored_runs": compare(restored),
      "final": {k: final[k] for k in ("seeds", "num_seeds", "per_seed")
                if k in final},
      "means": {k: [final[k], final[f"{k}_std"]]
                for k in ("modes", "hqs", "jsd")},
      "written_per_seed": written["per_seed"],
      # Each seed has its own auto-encoder and anchors.
      "anchors_differ": not np.allclose(
          np.asarray(initial[0].method_state.anchors),
          np.asarray(initial[1].method_state.anchors)),
  }
  config.num_devices = 3
  try:
    mog.validate_config(config)
    results["three_devices_error"] = None
  except ValueError as error:
    results["three_devices_error"] = str(error)

  # The comparison harness: 2 GAN seeds split over the devices vs one after
  # the other.
  from experiments import compare  # pylint: disable=g-import-not-at-top
  overrides = {"num_steps": 20, "log_every": 10, "eval.every": 20,
               "checkpoint_every": 20, "batch_size": 32,
               "eval.num_samples": 256}
  harness = {}
  for mode in ("sequential", "sharded"):
    out = compare.run_comparison(
        ["ring"], ["gan"], [0, 1], os.path.join(workdir, mode),
        overrides, shard_seeds=mode == "sharded")
    harness[mode] = [{k: r[k] for k in ("seed", "modes", "hqs", "jsd")}
                     for r in out["runs"]]
  results["harness"] = harness
  return results


def run_devices(args):
  """Device-count equivalence, replica consistency, an 8-device checkpoint."""
  assert jax.device_count() == 8, jax.devices()
  results = {}
  gan = mog.build_experiment(tiny_config("gan"))
  results["gan"] = compare_devices(
      gan.trainer, gan.initial_state(), steps=STEPS, counts=DEVICE_COUNTS)

  # One pretraining for every DIW-GAN scenario (the matcher does not enter).
  exact = mog.build_experiment(tiny_config("diwgan", matcher="scipy"))
  state = exact.initial_state()
  # The distributed scenario starts from it too (a pretraining saved).
  save_leaves(args.out + ".initial_state.npz", state)
  results["diwgan_exact"] = compare_devices(
      exact.trainer, state, steps=STEPS, counts=DEVICE_COUNTS)
  config = tiny_config("diwgan")
  auction = mog.build_experiment(config)
  results["diwgan_auction"] = auction_run(
      auction.trainer, state, steps=STEPS, count=8)

  # Methods that draw per-row noise of their own (training.sample_rows).
  for name in NOISY_METHODS:
    noisy = mog.build_experiment(tiny_config(name))
    results[name] = compare_devices(noisy.trainer, noisy.initial_state(),
                                    steps=NOISY_STEPS, counts=(8,))

  indivisible = mog.build_experiment(tiny_config("gan"))
  indivisible = dataclasses.replace(
      indivisible.trainer, batch_size=60)  # 60 rows over 8 devices
  mesh = parallel.make_mesh(8)
  try:
    parallel.make_train_steps(indivisible, mesh=mesh)(
        parallel.replicate(gan.template_state(), mesh), 1)
    results["indivisible_batch_error"] = None
  except ValueError as error:
    results["indivisible_batch_error"] = str(error)

  # The exact host matcher at the default batch: one scipy call per step
  # on the first device, broadcast (it used to abort in a collective).
  big = tiny_config("diwgan", matcher="scipy", num_steps=2)
  big.batch_size = 512
  big_experiment = mog.build_experiment(big)
  results["scipy_512"] = compare_devices(
      big_experiment.trainer, big_experiment.initial_state(), steps=2,
      counts=(8,))

  results["seed_sharding"] = seed_sharding(
      os.path.join(args.workdir, "seed_sharded"))

  # The 8-device checkpoint that the 1-device test restores.
  config.num_devices = 8
  experiment, captured = capture_last_evaluated(
      dataclasses.replace(auction, initial_state=lambda: state))
  loop.train(experiment, config, args.workdir)
  save_leaves(os.path.join(args.workdir, "final_state.npz"),
              captured["state"])
  with open(args.out, "w") as f:
    json.dump(results, f, indent=2)


def run_distributed(args):
  """One process of a `jax.distributed` run; saves its copy of the state."""
  # Only ever bind the loopback: the coordinator through
  # JAX_COORDINATOR_BIND_ADDRESS (set by the test), gloo's TCP pairs here.
  from jax._src.lib import _jax  # pylint: disable=g-import-not-at-top
  _jax.make_gloo_tcp_collectives = functools.partial(
      _jax.make_gloo_tcp_collectives, hostname="127.0.0.1")
  cli.initialize_distributed(
      args.coordinator_address, num_processes=args.num_processes,
      process_id=args.process_id)
  assert jax.process_count() == args.num_processes
  config = tiny_config("diwgan", num_steps=10)
  config.log_every = 5
  experiment, captured = capture_last_evaluated(
      mog.build_experiment(config, args.workdir))
  if args.initial_state:
    state = load_leaves(args.initial_state, experiment.template_state())
    experiment = dataclasses.replace(experiment, initial_state=lambda: state)
  final = loop.train(experiment, config, args.workdir)
  assert final["step"] == 10, final
  save_leaves(args.out, captured["state"])
  jax.distributed.shutdown()


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("scenario", choices=("devices", "distributed"))
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--coordinator_address")
  parser.add_argument("--num_processes", type=int)
  parser.add_argument("--process_id", type=int)
  parser.add_argument("--initial_state",
                      help="npz of `save_leaves` to start from instead of "
                      "pretraining (distributed)")
  args = parser.parse_args()
  if args.scenario == "devices":
    run_devices(args)
  else:
    run_distributed(args)


if __name__ == "__main__":
  main()
