"""The one training loop of every experiment: compile, train, evaluate, save.

`train_and_evaluate` drives a `diwgan.training.Trainer` in compiled chunks of
`config.log_every` steps (lax.scan), logs progress, evaluates on schedule,
writes metrics as JSON lines and checkpoints with orbax. An interrupted run
resumes from its last checkpoint and produces the same result as an
uninterrupted one, because step t's randomness is `fold_in(key, t)` and
chunks always start at multiples of `log_every`.

Scale (docs/scaling.md): `config.num_devices` devices (0: all, every host's)
train one global batch of `config.batch_size` data-parallel with a replicated
state, and `config.num_seeds` independent runs (seeds `config.seed`, ...,
`config.seed + num_seeds - 1`) train together under `jax.vmap`
(`build_runs`). Checkpoints hold one copy of the state, so a run resumes on
any device count. With several processes (`jax.distributed`), every process
runs this loop; only process 0 writes the JSON, PNG files, and orbax
coordinates the checkpoint writes.
"""

import copy
import dataclasses
import json
import os
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from absl import logging
import jax
from matplotlib.figure import Figure
import ml_collections
import numpy as np

from diwgan import checkpointing
from diwgan import parallel
from diwgan import training
from diwgan.training import Trainer, TrainState

# Config fields that may change between an interrupted run and its resume.
RESUMABLE_FIELDS = (
    "num_steps", "eval", "log_every", "checkpoint_every",
    "checkpoints_to_keep", "num_devices",
)


# One panel of `plot_eval_curves`: (y label, [(metric, legend label or None,
# scale)]).
Panel = Tuple[str, Sequence[Tuple[str, Optional[str], float]]]


def plot_eval_curves(eval_records: list, path: str,
                     panels: Sequence[Panel]) -> None:
  """Side-by-side panels of evaluation metrics against steps, as a PNG."""
  steps = [r["step"] for r in eval_records]
  fig = Figure(figsize=(4.5 * len(panels), 3.5))
  for ax, (ylabel, series) in zip(fig.subplots(1, len(panels)), panels):
    for i, (name, label, scale) in enumerate(series):
      ax.plot(steps, [scale * r[name] for r in eval_records],
              marker="o" if i == 0 else ".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if any(label for _, label, _ in series):
      ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def default_workdir(family: str, config: ml_collections.ConfigDict) -> str:
  """runs/<family>/<data set>_<method>_seed<s> (or _seeds<a>-<b>)."""
  num_seeds = config.get("num_seeds", 1)
  seeds = (f"seed{config.seed}" if num_seeds <= 1 else
           f"seeds{config.seed}-{config.seed + num_seeds - 1}")
  return os.path.join("runs", family,
                      f"{config.dataset}_{config.method}_{seeds}")


class NonFiniteLossError(FloatingPointError):
  """A loss became NaN or infinite; the message names step and checkpoint."""


@dataclasses.dataclass
class Experiment:
  """What the loop needs from an experiment.

  Attributes:
    trainer: the bound method, networks and optimizers.
    initial_state: builds the state of a fresh run (may pretrain the
      auto-encoder and draw anchors: expensive, called only without a
      checkpoint).
    template_state: builds a state of the same structure cheaply, to restore
      a checkpoint into.
    evaluate: (state) -> dict of scalar metrics of the current generator.
    plot: optional (state, path) -> writes a PNG of samples.
    summary_plot: optional (eval_records, path) -> writes a PNG of curves.
    seeds: None for one run; for runs vmapped together (`stack_seeds`), the
      seed of each run: the states then have a leading run axis and
      `evaluate` returns a (runs,) array per metric.
  """

  trainer: Trainer
  initial_state: Callable[[], TrainState]
  template_state: Callable[[], TrainState]
  evaluate: Callable[[TrainState], Dict[str, Any]]
  plot: Optional[Callable[[TrainState, str], None]] = None
  summary_plot: Optional[Callable[[list, str], None]] = None
  seeds: Optional[Tuple[int, ...]] = None


def stack_seeds(experiments: Sequence[Experiment], seeds: Sequence[int]
                ) -> Experiment:
  """One experiment training the runs of `experiments` together (vmap).

  The runs must differ only in their seed: they share the first run's
  trainer. Each run keeps its own initial state (its auto-encoder, anchors,
  parameters, key), pretrained one after the other by its own
  `initial_state`, so every run starts exactly as it would alone.

  Args:
    experiments: one experiment per seed.
    seeds: the seed of each.

  Returns:
    An `Experiment` whose states have a leading run axis.
  """
  experiments = tuple(experiments)
  if len(experiments) != len(seeds) or not experiments:
    raise ValueError(f"Need one experiment per seed, got {len(experiments)} "
                     f"experiments for seeds {list(seeds)}.")

  def evaluate(states):
    per_run = [e.evaluate(parallel.select_run(states, i))
               for i, e in enumerate(experiments)]
    return {name: np.array([_to_python(r[name]) for r in per_run])
            for name in per_run[0]}

  first = experiments[0]
  return Experiment(
      trainer=first.trainer,
      initial_state=lambda: parallel.stack_runs(
          [e.initial_state() for e in experiments]),
      template_state=lambda: parallel.stack_runs(
          [e.template_state() for e in experiments]),
      evaluate=evaluate,
      plot=(None if first.plot is None else
            lambda states, path: first.plot(
                parallel.select_run(states, 0), path)),
      summary_plot=first.summary_plot,
      seeds=tuple(int(s) for s in seeds),
  )


def seed_config(config: ml_collections.ConfigDict, seed: int
                ) -> ml_collections.ConfigDict:
  """`config` for the single run of `seed` (what that seed alone would run)."""
  single = copy.deepcopy(config)
  with single.unlocked():
    single.seed = seed
    single.num_seeds = 1
  return single


def build_runs(
    build: Callable[[ml_collections.ConfigDict, Optional[str]], Experiment],
    config: ml_collections.ConfigDict,
    workdir: Optional[str] = None,
) -> Experiment:
  """`build(config, workdir)`, or the `config.num_seeds` runs stacked.

  Args:
    build: builds the experiment of one run from its config; per-run files
      (anchor quality, say) go to the given folder.
    config: the config; `num_seeds` > 1 (default 1) trains seeds
      `config.seed + i`, i < num_seeds, together under vmap.
    workdir: the run's folder; seed `s` of several gets `<workdir>/seed_<s>`.

  Returns:
    The experiment for `train_and_evaluate`.
  """
  num_seeds = config.get("num_seeds", 1)
  if num_seeds <= 1:
    return build(config, workdir)
  seeds = [config.seed + i for i in range(num_seeds)]
  return stack_seeds(
      [build(seed_config(config, s),
             None if workdir is None else os.path.join(workdir, f"seed_{s}"))
       for s in seeds],
      seeds)


def make_trainer(
    config: ml_collections.ConfigDict,
    networks: training.Networks,
    method: Any,
    sample_real: Callable[..., Any],
) -> Trainer:
  """The `Trainer` of `config`: its optimizers, batch and D steps per G step."""
  opt = config.optimizer

  def optimizer(learning_rate, num_steps):
    return training.make_optimizer(
        learning_rate, num_steps=num_steps, b1=opt.b1, b2=opt.b2,
        decay=opt.decay, final_fraction=opt.final_fraction)

  return Trainer(
      networks=networks,
      method=method,
      generator_optimizer=optimizer(opt.generator_lr, config.num_steps),
      discriminator_optimizer=optimizer(
          opt.discriminator_lr,
          config.num_steps * config.discriminator_steps),
      sample_real=sample_real,
      batch_size=config.batch_size,
      discriminator_steps=config.discriminator_steps,
  )


def save_anchor_quality(workdir: Optional[str], quality: Dict[str, Any]
                        ) -> None:
  """Logs the anchors' quality and writes `<workdir>/anchor_quality.json`."""
  logging.info("Anchor quality: %s", quality)
  if workdir is not None and jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "anchor_quality.json"), "w") as f:
      json.dump(quality, f, indent=2)


def initialize_distributed(
    coordinator_address: Optional[str],
    *,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
) -> None:
  """`jax.distributed.initialize` when a coordinator is given, else nothing.

  Call it first, before any other JAX call. On Cloud TPU pod slices and
  Slurm/Open MPI clusters JAX finds the three values itself: pass
  coordinator_address="auto" there.

  Args:
    coordinator_address: "host:port" of process 0, "auto", or None (one
      process).
    num_processes: number of processes.
    process_id: this process's index in [0, num_processes).
  """
  if coordinator_address is None:
    if num_processes not in (None, 1) or process_id not in (None, 0):
      raise ValueError("--num_processes/--process_id need "
                       "--coordinator_address.")
    return
  if coordinator_address == "auto":
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(
        coordinator_address, num_processes=num_processes,
        process_id=process_id)
  logging.info("Process %d of %d; %d local and %d global devices.",
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def _to_python(value: Any) -> Any:
  value = np.asarray(value)
  if value.dtype.kind in "iub":
    return int(value)
  return float(value)


def _read_jsonl(path: str) -> list:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path: str, records: list) -> None:
  with open(path, "w") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")


def _check_schedule(config: ml_collections.ConfigDict) -> None:
  for name in ("checkpoint_every", "eval.every"):
    value = config.eval.every if name == "eval.every" else config[name]
    if value <= 0 or value % config.log_every:
      raise ValueError(
          f"config.{name}={value} must be a positive multiple of "
          f"config.log_every={config.log_every}."
      )
  if config.num_steps <= 0:
    raise ValueError(f"config.num_steps must be positive, got {config.num_steps}.")


def _first_non_finite(metrics: Dict[str, np.ndarray]) -> Optional[tuple]:
  """(step offset, metric, value, run) of the first NaN/inf loss, or None."""
  for name in ("d_loss", "g_loss"):
    values = np.atleast_2d(metrics[name])  # (runs, steps)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
      run, offset = min(bad.tolist(), key=lambda rc: (rc[1], rc[0]))
      return offset, name, float(values[run, offset]), run
  return None


def _summarise_runs(values: Dict[str, Any], seeds: Optional[Sequence[int]]
                    ) -> Dict[str, Any]:
  """Scalars as they are; per-run arrays as mean, `<name>_std` and per seed.

  The std is the sample standard deviation (ddof=1; 0 for one run), as in
  "mean (std)" tables over seeds.
  """
  if seeds is None:
    return {k: _to_python(v) for k, v in values.items()}
  summary, per_seed = {}, {}
  for name, value in values.items():
    value = np.asarray(value, np.float64)
    summary[name] = float(np.mean(value))
    summary[f"{name}_std"] = (float(np.std(value, ddof=1))
                              if value.size > 1 else 0.0)
    per_seed[name] = [float(v) for v in value]
  summary["per_seed"] = per_seed
  return summary


def train_and_evaluate(
    experiment: Experiment, config: ml_collections.ConfigDict, workdir: str
) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; returns the final evaluation.

  Writes to `workdir`: `metrics.jsonl` (one line per logged chunk, kind
  "train", and per evaluation, kind "eval"), `samples_<step>.png`,
  `curves.png`, `final_metrics.json`, `config.json` and `checkpoints/`.
  With several seeds (`experiment.seeds`), every metric is the mean over the
  runs, with `<name>_std` and a `per_seed` dict of lists beside it (and
  `seeds` in `final_metrics.json`); the samples plotted are the first run's.

  Devices: `config.num_devices` (0 or absent: all devices of all processes)
  split the global batch; one device runs the plain jit step.
  """
  _check_schedule(config)
  seeds = experiment.seeds
  mesh = parallel.make_mesh(config.get("num_devices", 0))
  data_parallel = mesh.size > 1
  # Every process trains and evaluates; process 0 alone writes files, orbax
  # coordinates the checkpoint writes of all processes.
  writer = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  config_dict = json.loads(config.to_json())
  if writer:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(config_dict, f, indent=2)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"),
      max_to_keep=config.checkpoints_to_keep,
  )
  trainer = experiment.trainer
  logging.info(
      "Training on %d %s device(s) (%d process(es))%s.", mesh.size,
      jax.default_backend(), jax.process_count(),
      f", {len(seeds)} seeds {list(seeds)} under vmap" if seeds else "")

  def place(state):
    return parallel.replicate(state, mesh) if data_parallel else state

  latest = checkpointer.latest_step()
  if latest is None:
    state = place(experiment.initial_state())
    records = []
  else:
    saved_config = checkpointer.restore_config(latest)
    # Checkpoints from before `num_seeds` existed hold one run.
    if "num_seeds" in config_dict:
      saved_config.setdefault("num_seeds", 1)
    diffs = checkpointing.config_differences(
        saved_config, config_dict, ignore=RESUMABLE_FIELDS
    )
    if diffs:
      listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diffs.items())
      raise checkpointing.CheckpointError(
          f"The checkpoint in {checkpointer.directory} was written with a "
          f"different config ({listed}). Use another --workdir or the same "
          f"config."
      )
    # The template's sharding (replicated over this run's mesh, or one
    # device) is where orbax puts the arrays: any device count restores
    # any checkpoint.
    state = checkpointer.restore(latest, place(experiment.template_state()))
    # Drop what was logged after the checkpoint: those steps run again.
    records = [r for r in _read_jsonl(metrics_path) if r["step"] <= latest]
    logging.info("Resumed from checkpoint at step %d in %s.", latest,
                 checkpointer.directory)
  if writer:
    _write_jsonl(metrics_path, records)

  train_chunk = parallel.make_train_steps(
      trainer, mesh=mesh, vmap_runs=seeds is not None)
  evaluate = experiment.evaluate
  step = int(np.asarray(parallel.local_copy(state.step)).reshape(-1)[0])
  eval_records = [r for r in records if r["kind"] == "eval"]

  def append(record):
    if writer:
      with open(metrics_path, "a") as f:
        f.write(json.dumps(record) + "\n")

  def run_eval(state, step):
    # One device's copy: the evaluation of a one-device run, on any mesh.
    state = parallel.local_copy(state)
    result = _summarise_runs(evaluate(state), seeds)
    record = {"kind": "eval", "step": step, **result}
    eval_records.append(record)
    append(record)
    if writer and experiment.plot is not None:
      experiment.plot(state, os.path.join(workdir, f"samples_{step:06d}.png"))
    logging.info("eval step %d: %s", step, ", ".join(
        f"{k}={v:.4g}" for k, v in result.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)))
    return record

  if step == 0 and not eval_records:
    run_eval(state, 0)
  last_eval = eval_records[-1] if eval_records else None
  start_time = time.time()
  while step < config.num_steps:
    length = min(config.log_every, config.num_steps - step)
    chunk_start = time.time()
    state, metrics = train_chunk(state, length)
    metrics = jax.device_get(metrics)
    elapsed = time.time() - chunk_start
    bad = _first_non_finite(metrics)
    if bad is not None:
      offset, name, value, run = bad
      good = checkpointer.latest_step()
      checkpointer.close()
      raise NonFiniteLossError(
          f"{name} became {value} at step {step + offset + 1}"
          + (f" in the run of seed {seeds[run]}" if seeds else "")
          + ". Last good checkpoint: "
          + (f"step {good} in {checkpointer.directory}" if good is not None
             else "none (no checkpoint was written yet)")
          + ". Lower the learning rates or alpha and rerun; resuming from "
          "that checkpoint with the same config repeats the failure."
      )
    step += length
    record = {
        "kind": "train", "step": step, "steps_per_sec": length / elapsed,
        **{k: float(np.mean(v)) for k, v in metrics.items()},
    }
    if seeds:
      record["per_seed"] = {k: [float(x) for x in np.mean(v, axis=-1)]
                            for k, v in metrics.items()}
    append(record)
    logging.info(
        "step %d  %.1f steps/s  d_loss %.4f  g_loss %.4f%s", step,
        record["steps_per_sec"], record["d_loss"], record["g_loss"],
        f"  matched {record['matched_distance']:.4f}"
        if "matched_distance" in record else "",
    )
    if step % config.eval.every == 0 or step == config.num_steps:
      last_eval = run_eval(state, step)
    if step % config.checkpoint_every == 0 or step == config.num_steps:
      checkpointer.save(step, state, config_dict)
  checkpointer.close()

  final = {
      "step": step,
      "train_seconds_this_session": time.time() - start_time,
      **({"num_seeds": len(seeds), "seeds": list(seeds)} if seeds else {}),
      **({k: v for k, v in last_eval.items() if k not in ("kind", "step")}
         if last_eval else {}),
  }
  if writer:
    with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
      json.dump(final, f, indent=2)
    if experiment.summary_plot is not None and eval_records:
      experiment.summary_plot(eval_records,
                              os.path.join(workdir, "curves.png"))
  return final
