"""The one training step on many devices, many hosts and many seeds.

Data parallelism: `jax.shard_map` over a one-axis `Mesh` (`DATA_AXIS`) of all
devices, every host's included. The train state is replicated (`P()` in and
out), and the step runs with `Trainer.axis_name = DATA_AXIS`: every device
draws the noise and real data of the global batch from the same step key and
keeps its rows, gradients are averaged with `pmean`, and DIW-GAN gathers the
latents of all devices before its one global B x B matching. N devices compute
the one-device step up to the order of float32 reductions, and the replicated
state (parameters, optimizer states, anchors, importance ring buffers)
stays identical on every device, because every device updates it from the same
averaged gradients and the same gathered latents.

`shard_map` runs with `check_vma=False`: the collectives then have pmap's
semantics (per-device gradients, averaged explicitly by the trainer), which
makes the explicit `pmean` and the all_gather transpose add up to the exact
global gradient. With `check_vma=True`, JAX would sum the gradients of the
replicated parameters over devices itself, and the DIW state computed from
gathered latents would be typed as device-varying.

Seeds: `jax.vmap` over a leading run axis of the `TrainState`; each run keeps
its own key, parameters, auto-encoder, anchors and buffers. Two ways to put
S seeds on N devices:

* batch-sharded (`shard_runs=False`): `shard_map(vmap(train_steps))` with a
  replicated state, each seed data-parallel over the devices. Every device
  repeats every seed's B x B matching, so more devices do not make a
  DIW-GAN run faster.
* seed-sharded (`shard_runs=True`): the run axis is split over the devices
  (`shard_runs_over`), each device trains S / N whole seeds with the
  one-device step, and the step has no collectives: N devices train S seeds
  in the time one device trains S / N.
"""

import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence, Tuple

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from diwgan.training import Metrics, Trainer, TrainState

DATA_AXIS = "data"

TrainSteps = Callable[[TrainState, int], Tuple[TrainState, Metrics]]


def make_mesh(num_devices: Optional[int] = None) -> jax.sharding.Mesh:
  """A one-axis mesh named `DATA_AXIS` over the first `num_devices` devices.

  Args:
    num_devices: how many of `jax.devices()` (all hosts' devices) to use;
      None or 0 for all of them. With several processes it must be all.

  Returns:
    The mesh.
  """
  devices = jax.devices()
  if not num_devices:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ValueError(
        f"num_devices={num_devices}, but {len(devices)} device(s) are "
        f"available ({jax.default_backend()}); use 0 for all of them."
    )
  if jax.process_count() > 1 and num_devices != len(devices):
    raise ValueError(
        f"With {jax.process_count()} processes the mesh must span all "
        f"{len(devices)} devices, got num_devices={num_devices}; use 0."
    )
  # Auto axis: only shard_map touches the axis, and the replicated arrays
  # it returns index and slice like ordinary arrays.
  return jax.make_mesh(
      (num_devices,), (DATA_AXIS,), devices=devices[:num_devices],
      axis_types=(jax.sharding.AxisType.Auto,))


def _is_key(leaf: Any) -> bool:
  return isinstance(leaf, jax.Array) and jnp.issubdtype(
      leaf.dtype, jax.dtypes.prng_key)


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Places a copy of every leaf on every device of `mesh` (spec `P()`).

  With several processes, process 0's values are broadcast first, so all
  hosts start from bit-identical states even if their local pretraining
  differed in the last bit.

  Args:
    tree: pytree of arrays (PRNG key arrays allowed) on any device or host.
    mesh: the mesh, possibly spanning several processes.

  Returns:
    The same pytree of global arrays, fully replicated over `mesh`.
  """
  return _place(tree, jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec()))


def _place(tree: Any, sharding: jax.sharding.NamedSharding) -> Any:
  """Every leaf as a global array of `sharding`, from process 0's values."""
  leaves, treedef = jax.tree.flatten(tree)
  key_impls = [jax.random.key_impl(x) if _is_key(x) else None for x in leaves]
  host = [np.asarray(gather_to_host(jax.random.key_data(x) if _is_key(x)
                                    else x)) for x in leaves]
  if jax.process_count() > 1:
    host = multihost_utils.broadcast_one_to_all(host)
    host = [np.asarray(x) for x in host]

  def put(value, impl):
    array = jax.make_array_from_callback(
        value.shape, sharding, lambda index: value[index])
    if impl is not None:
      array = jax.random.wrap_key_data(array, impl=impl)
    return array

  return jax.tree.unflatten(
      treedef, [put(v, impl) for v, impl in zip(host, key_impls)])


def gather_to_host(x: Any) -> Any:
  """A global array's whole value as numpy, on every process."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return multihost_utils.process_allgather(x, tiled=True)
  return np.asarray(x)


def shard_runs_over(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Splits the leading run axis of every leaf over the devices of `mesh`.

  Args:
    tree: pytree of arrays with a leading run axis of S (a multiple of the
      mesh size), on any device or host; PRNG key arrays allowed.
    mesh: the mesh from `make_mesh`.

  Returns:
    The same pytree of global arrays, device i holding runs
    `[i * S / N, (i + 1) * S / N)`.
  """
  return _place(tree, jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(DATA_AXIS)))


def local_copy(tree: Any) -> Any:
  """One single-device copy of a replicated or run-sharded pytree.

  Used to evaluate, plot and read a state exactly as a one-device run would;
  works on every process of a multi-host run (run-sharded arrays are
  gathered from all processes).

  Args:
    tree: pytree of fully replicated global arrays, arrays sharded along
      their leading run axis (`shard_runs_over`), or ordinary arrays.

  Returns:
    The pytree with each leaf on the first local device holding it.
  """

  def copy(x):
    if not isinstance(x, jax.Array) or len(x.sharding.device_set) == 1:
      return x
    if x.sharding.is_fully_replicated:
      return x.addressable_shards[0].data
    # Runs sharded over the devices (`shard_runs_over`): gathered onto one.
    if _is_key(x):
      return jax.random.wrap_key_data(
          jax.device_put(gather_to_host(jax.random.key_data(x)),
                         jax.local_devices()[0]),
          impl=jax.random.key_impl(x))
    return jax.device_put(gather_to_host(x), jax.local_devices()[0])

  return jax.tree.map(copy, tree)


def stack_runs(states: Sequence[Any]) -> Any:
  """Stacks S pytrees of one structure on a new leading run axis."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def select_run(states: Any, run: int) -> Any:
  """Run `run` of a pytree with a leading run axis."""
  return jax.tree.map(lambda x: x[run], states)


def make_train_steps(
    trainer: Trainer,
    *,
    mesh: Optional[jax.sharding.Mesh] = None,
    vmap_runs: bool = False,
    shard_runs: bool = False,
    donate: bool = True,
) -> TrainSteps:
  """A compiled `(state, num_steps) -> (state, metrics)` chunk of steps.

  Args:
    trainer: the one-device trainer (its `axis_name` must be None).
    mesh: data-parallel mesh from `make_mesh`; None (or a one-device mesh)
      for the plain one-device `jit` path, unchanged from
      `Trainer.train_steps`.
    vmap_runs: the state has a leading run (seed) axis; runs are independent
      and trained together under `jax.vmap`.
    shard_runs: with `vmap_runs` and a mesh, split the runs over the
      devices (the state placed by `shard_runs_over`) instead of splitting
      every run's batch: each device trains its runs with the one-device
      step.
    donate: donate the input state's buffers.

  Returns:
    A jitted function; `num_steps` is static. Metrics have shape
    (num_steps,), or (runs, num_steps) with `vmap_runs`. Under a mesh the
    state must be replicated over it (`replicate`), or with `shard_runs`
    split over it (`shard_runs_over`), and comes back so.
  """
  if trainer.axis_name is not None:
    raise ValueError("make_train_steps sets the device axis itself; pass the "
                     "one-device trainer (axis_name=None).")
  if shard_runs and not vmap_runs:
    raise ValueError("shard_runs splits a run axis: it needs vmap_runs.")
  data_parallel = mesh is not None and mesh.size > 1
  if data_parallel and not shard_runs:
    trainer = dataclasses.replace(trainer, axis_name=DATA_AXIS)

  def parallel_train_steps(state, num_steps):
    run = functools.partial(trainer.train_steps, num_steps=num_steps)
    if vmap_runs:
      run = jax.vmap(run)
    if data_parallel:
      # Seed-sharded: each device its block of runs, no collectives.
      # Batch-sharded: a replicated state, collectives inside the step.
      spec = (jax.sharding.PartitionSpec(DATA_AXIS) if shard_runs
              else jax.sharding.PartitionSpec())
      run = jax.shard_map(run, mesh=mesh, in_specs=spec, out_specs=spec,
                          check_vma=False)
    return run(state)

  if data_parallel or vmap_runs:
    train_steps = parallel_train_steps
  else:
    # Exactly the one-device path of `Trainer.train_steps`.
    train_steps = trainer.train_steps
  return jax.jit(train_steps, static_argnums=1,
                 donate_argnums=0 if donate else ())
