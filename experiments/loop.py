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
from experiments import report
from experiments import tensorboard as tensorboard_lib
from experiments import validation

# Config fields that may change between an interrupted run and its resume.
RESUMABLE_FIELDS = (
    "num_steps", "eval", "log_every", "checkpoint_every",
    "checkpoints_to_keep", "num_devices", "parallelism", "tensorboard",
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
  """runs/<family>/<data set>_<method>[_<protocol>]_seed<s> (or _seeds<a>-<b>).

  The protocol appears when it is not the project's own ("diwgan").
  """
  num_seeds = config.get("num_seeds", 1)
  seeds = (f"seed{config.seed}" if num_seeds <= 1 else
           f"seeds{config.seed}-{config.seed + num_seeds - 1}")
  protocol = config.get("protocol", "diwgan")
  method = (config.method if protocol == "diwgan"
            else f"{config.method}_{protocol}")
  return os.path.join("runs", family, f"{config.dataset}_{method}_{seeds}")


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
    quality: optional bar on the metrics of one run (e.g. all modes and
      HQS >= 80%); the loop reports when it was first passed.
  """

  trainer: Trainer
  initial_state: Callable[[], TrainState]
  template_state: Callable[[], TrainState]
  evaluate: Callable[[TrainState], Dict[str, Any]]
  plot: Optional[Callable[[TrainState, str], None]] = None
  summary_plot: Optional[Callable[[list, str], None]] = None
  seeds: Optional[Tuple[int, ...]] = None
  quality: Optional[Callable[[Dict[str, Any]], bool]] = None


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
      quality=first.quality,
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
      simultaneous=config.get("simultaneous_updates", False),
  )


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
    summary[name], summary[f"{name}_std"] = report.mean_std(value)
    per_seed[name] = [float(v) for v in value]
  summary["per_seed"] = per_seed
  return summary


def process_start_time() -> float:
  """`time.time()` at which this process started (Linux), else now.

  The clock of `seconds_to_quality` starts here, so it counts the imports,
  the auto-encoder and the compilation, as a user waiting for the command
  sees them.
  """
  try:
    with open("/proc/self/stat") as f:
      # Fields after "pid (comm)": state is field 3, starttime field 22.
      fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - (uptime - started)
  except (OSError, ValueError, IndexError):
    return time.time()


def format_seconds(seconds: float) -> str:
  """A duration as "1h05m", "3m07s" or "42s" (for ETAs)."""
  seconds = int(round(max(seconds, 0.0)))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class _Progress:
  """This session's steps per second and the ETA of the run."""

  def __init__(self, total_steps: int):
    self.total_steps = total_steps
    self._first = None  # (steps, seconds) of the first chunk: it compiles.
    self._steps = 0
    self._seconds = 0.0

  def add(self, steps: int, seconds: float) -> None:
    if self._first is None:
      self._first = (steps, seconds)
    else:
      self._steps += steps
      self._seconds += seconds

  def eta(self, step: int) -> str:
    steps, seconds = ((self._steps, self._seconds) if self._steps
                      else self._first or (0, 0.0))
    if seconds <= 0:
      return "?"
    return format_seconds((self.total_steps - step) * seconds / steps)


def first_quality(
    eval_records: Sequence[Dict[str, Any]],
    quality: Optional[Callable[[Dict[str, Any]], bool]],
    seeds: Optional[Sequence[int]] = None,
) -> Dict[str, Any]:
  """`seconds_to_quality` and `steps_to_quality` of a run's evaluations.

  Args:
    eval_records: the run's "eval" records in step order, each with
      `seconds` (since the command started) and the metrics; for vmapped
      seeds, each metric's per-seed values under `per_seed`.
    quality: metrics of one run -> whether the run has reached the quality
      bar; None for no bar.
    seeds: the seeds of a vmapped run, or None.

  Returns:
    {} without a bar; else the `seconds` and `step` of the first evaluation
    that passed (None if none did), as lists over seeds for vmapped runs.

  Example:
    >>> records = [{"step": 0, "seconds": 5.0, "hqs": 0.1},
    ...            {"step": 100, "seconds": 9.0, "hqs": 0.9}]
    >>> first_quality(records, lambda r: r["hqs"] >= 0.8)
    {'seconds_to_quality': 9.0, 'steps_to_quality': 100}
  """
  if quality is None:
    return {}

  def first(runs_metrics):
    for record, metrics in runs_metrics:
      if quality(metrics):
        return record.get("seconds"), record["step"]
    return None, None

  if seeds is None:
    seconds, steps = first((r, r) for r in eval_records)
    return {"seconds_to_quality": seconds, "steps_to_quality": steps}
  per_seed = [
      first((r, {k: v[i] for k, v in r["per_seed"].items()})
            for r in eval_records)
      for i in range(len(seeds))]
  return {"seconds_to_quality": [s for s, _ in per_seed],
          "steps_to_quality": [t for _, t in per_seed]}


@dataclasses.dataclass
class _RunFiles:
  """The run's folder: metrics.jsonl, PNGs and JSON (process 0 writes),
  and TensorBoard event files when asked."""

  workdir: str
  writer: bool
  tensorboard: Optional[tensorboard_lib.TensorBoardWriter] = None

  @property
  def metrics_path(self) -> str:
    return os.path.join(self.workdir, "metrics.jsonl")

  def rewrite_metrics(self, records: list) -> None:
    if self.writer:
      _write_jsonl(self.metrics_path, records)

  def append(self, record: dict) -> None:
    if self.writer:
      with open(self.metrics_path, "a") as f:
        f.write(json.dumps(record) + "\n")
      if self.tensorboard is not None:
        self.tensorboard.record(record)

  def plot(self, plot: Callable[[Any, str], None], state: Any, name: str,
           step: int) -> None:
    """Writes `<name>_<step>.png` by `plot(state, path)` (and to TensorBoard)."""
    if not self.writer:
      return
    path = os.path.join(self.workdir, f"{name}_{step:06d}.png")
    plot(state, path)
    if self.tensorboard is not None:
      self.tensorboard.image(name, path, step)

  def close(self) -> None:
    if self.tensorboard is not None:
      self.tensorboard.close()

  def write_json(self, name: str, value: dict) -> None:
    if self.writer:
      with open(os.path.join(self.workdir, name), "w") as f:
        json.dump(value, f, indent=2)


def _check_resumable(checkpointer, step: int, config_dict: dict) -> None:
  """Raises if checkpoint `step` was written with another config."""
  saved_config = checkpointer.restore_config(step)
  # Checkpoints from before `num_seeds` existed hold one run.
  if "num_seeds" in config_dict:
    saved_config.setdefault("num_seeds", 1)
  diffs = checkpointing.config_differences(
      saved_config, config_dict, ignore=RESUMABLE_FIELDS)
  if diffs:
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diffs.items())
    raise ConfigMismatchError(
        f"The checkpoint in {checkpointer.directory} was written with a "
        f"different config ({listed}). Use another --workdir or the same "
        f"config.")


class ConfigMismatchError(checkpointing.CheckpointError):
  """The checkpoint belongs to another config: no older one will do."""


def restore_newest_intact(
    checkpointer: checkpointing.Checkpointer,
    template: Callable[[], TrainState],
    config_dict: dict,
    workdir: str,
) -> Tuple[Optional[int], Optional[TrainState]]:
  """The newest checkpoint that restores, skipping damaged newer ones.

  A checkpoint that cannot be read (truncated, garbage) costs one
  checkpoint interval: the next older one is tried, and the damaged ones are
  moved to `<workdir>/damaged_checkpoints/<step>` (so that the run can
  write those steps again) with a warning naming the step and the error.
  A checkpoint of another config stops the run at once.

  Args:
    checkpointer: the run's checkpoints.
    template: () -> a state of the run's structure and placement, built only
      when there is a checkpoint.
    config_dict: the run's config, as JSON.
    workdir: the run's folder.

  Returns:
    (step, state), or (None, None) when there is no checkpoint.

  Raises:
    checkpointing.CheckpointError: another config, or no checkpoint is
      intact (the message lists each one's error).
  """
  steps = sorted(checkpointer.all_steps(), reverse=True)
  errors = []
  template_state = template() if steps else None
  for step in steps:
    try:
      _check_resumable(checkpointer, step, config_dict)
      state = checkpointer.restore(step, template_state)
    except ConfigMismatchError:
      raise
    except checkpointing.CheckpointError as error:
      logging.warning("Skipping damaged checkpoint %d: %s", step, error)
      errors.append(f"step {step}: {error}")
      continue
    for damaged in steps[:len(errors)]:
      checkpointer.set_aside(damaged, os.path.join(
          workdir, "damaged_checkpoints", str(damaged)))
    if errors:
      logging.warning(
          "Resuming from checkpoint %d, the newest intact one; the damaged "
          "newer one(s) were moved to %s.", step,
          os.path.join(workdir, "damaged_checkpoints"))
    return step, state
  if errors:
    raise checkpointing.CheckpointError(
        f"No checkpoint in {checkpointer.directory} is intact: "
        + "; ".join(errors))
  return None, None


def _non_finite_error(bad, step, seeds, checkpointer) -> NonFiniteLossError:
  offset, name, value, run = bad
  good = checkpointer.latest_step()
  return NonFiniteLossError(
      f"{name} became {value} at step {step + offset + 1}"
      + (f" in the run of seed {seeds[run]}" if seeds else "")
      + ". Last good checkpoint: "
      + (f"step {good} in {checkpointer.directory}" if good is not None
         else "none (no checkpoint was written yet)")
      + ". Lower the learning rates or alpha and rerun; resuming from "
      "that checkpoint with the same config repeats the failure.")


def _train_record(step, length, elapsed, seconds, metrics, seeds) -> dict:
  record = {
      "kind": "train", "step": step, "steps_per_sec": length / elapsed,
      "seconds": seconds,
      **{k: float(np.mean(v)) for k, v in metrics.items()},
  }
  if seeds:
    record["per_seed"] = {k: [float(x) for x in np.mean(v, axis=-1)]
                          for k, v in metrics.items()}
  return record


def _start_or_resume(experiment, checkpointer, place, config_dict, files
                     ) -> Tuple[TrainState, list]:
  """The state and the kept metrics records: resumed, or a fresh run's."""
  # The template's sharding (replicated over this run's mesh, or one
  # device) is where orbax puts the arrays: any device count restores any
  # checkpoint.
  latest, state = restore_newest_intact(
      checkpointer, lambda: place(experiment.template_state()), config_dict,
      files.workdir)
  if latest is None:
    return place(experiment.initial_state()), []
  logging.info("Resumed from checkpoint at step %d in %s.", latest,
               checkpointer.directory)
  # Drop what was logged after the checkpoint: those steps run again.
  return state, [r for r in _read_jsonl(files.metrics_path)
                 if r["step"] <= latest]


def train_and_evaluate(
    experiment: Experiment,
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    start_time: Optional[float] = None,
) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; returns the final evaluation.

  Writes to `workdir`: `metrics.jsonl` (one line per logged chunk, kind
  "train", and per evaluation, kind "eval", each with `seconds` since the
  command started), `samples_<step>.png`, `curves.png`, `final_metrics.json`,
  `config.json` and `checkpoints/`. With several seeds (`experiment.seeds`),
  every metric is the mean over the runs, with `<name>_std` and a `per_seed`
  dict of lists beside it (and `seeds` in `final_metrics.json`); the samples
  plotted are the first run's. With a quality bar (`experiment.quality`),
  `final_metrics.json` has `seconds_to_quality` and `steps_to_quality` of
  the first evaluation that passed it (None if none did).

  Devices: `config.num_devices` (0 or absent: all devices of all processes)
  split the global batch, or with `config.parallelism="seeds"` and several
  seeds, the seeds (each device trains num_seeds / devices whole seeds);
  one device runs the plain jit step.

  Args:
    experiment: what to train.
    config: the run's config.
    workdir: output folder; a checkpoint there is resumed.
    start_time: `time.time()` when the command started (default: now); a
      resumed run's clock continues from its last kept record.
  """
  validation.validate_fields(config)
  session_start = time.time() if start_time is None else start_time
  seeds = experiment.seeds
  mesh = parallel.make_mesh(config.get("num_devices", 0))
  data_parallel = mesh.size > 1
  # Seed-sharded (docs/scaling.md): each device trains whole seeds.
  shard_seeds = (data_parallel and seeds is not None
                 and config.get("parallelism", "batch") == "seeds")
  # Every process trains and evaluates; process 0 alone writes files, orbax
  # coordinates the checkpoint writes of all processes.
  writer = jax.process_index() == 0
  files = _RunFiles(
      workdir, writer=writer,
      tensorboard=(tensorboard_lib.TensorBoardWriter(
          os.path.join(workdir, "tensorboard"))
                   if writer and config.get("tensorboard", False) else None))
  os.makedirs(workdir, exist_ok=True)
  config_dict = json.loads(config.to_json())
  files.write_json("config.json", config_dict)
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"),
      max_to_keep=config.checkpoints_to_keep,
  )
  logging.info(
      "Training on %d %s device(s) (%d process(es))%s.", mesh.size,
      jax.default_backend(), jax.process_count(),
      (f", {len(seeds)} seeds {list(seeds)} under vmap"
       + (f", {len(seeds) // mesh.size} per device" if shard_seeds else "")
       if seeds else ""))

  def place(state):
    if shard_seeds:
      return parallel.shard_runs_over(state, mesh)
    return parallel.replicate(state, mesh) if data_parallel else state

  state, records = _start_or_resume(experiment, checkpointer, place,
                                    config_dict, files)
  files.rewrite_metrics(records)
  # The run's clock: seconds since the command started, continued from the
  # last kept record when resuming.
  offset = records[-1].get("seconds", 0.0) if records else 0.0

  def clock() -> float:
    return offset + time.time() - session_start

  train_chunk = parallel.make_train_steps(
      experiment.trainer, mesh=mesh, vmap_runs=seeds is not None,
      shard_runs=shard_seeds)
  step = int(np.asarray(parallel.local_copy(state.step)).reshape(-1)[0])
  eval_records = [r for r in records if r["kind"] == "eval"]

  def run_eval(state, step):
    # One device's copy: the evaluation of a one-device run, on any mesh.
    state = parallel.local_copy(state)
    result = _summarise_runs(experiment.evaluate(state), seeds)
    record = {"kind": "eval", "step": step, "seconds": clock(), **result}
    eval_records.append(record)
    files.append(record)
    if experiment.plot is not None:
      files.plot(experiment.plot, state, "samples", step)
    logging.info("eval step %d/%d: %s", step, config.num_steps, ", ".join(
        f"{k}={v:.4g}" for k, v in result.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)))
    return record

  if step == 0 and not eval_records:
    run_eval(state, 0)
  progress = _Progress(config.num_steps)
  session_train_start = time.time()
  while step < config.num_steps:
    length = min(config.log_every, config.num_steps - step)
    chunk_start = time.time()
    state, metrics = train_chunk(state, length)
    metrics = jax.tree.map(parallel.gather_to_host, metrics)
    elapsed = time.time() - chunk_start
    bad = _first_non_finite(metrics)
    if bad is not None:
      checkpointer.close()
      files.close()
      raise _non_finite_error(bad, step, seeds, checkpointer)
    step += length
    progress.add(length, elapsed)
    record = _train_record(step, length, elapsed, clock(), metrics, seeds)
    files.append(record)
    logging.info(
        "step %d/%d  %.1f steps/s  ETA %s  d_loss %.4f  g_loss %.4f%s", step,
        config.num_steps, record["steps_per_sec"], progress.eta(step),
        record["d_loss"], record["g_loss"],
        f"  matched {record['matched_distance']:.4f}"
        if "matched_distance" in record else "",
    )
    if step % config.eval.every == 0 or step == config.num_steps:
      run_eval(state, step)
    if step % config.checkpoint_every == 0 or step == config.num_steps:
      checkpointer.save(step, state, config_dict)
  checkpointer.close()

  last_eval = eval_records[-1] if eval_records else None
  final = {
      "step": step,
      "seconds": clock(),
      "train_seconds_this_session": time.time() - session_train_start,
      **first_quality(eval_records, experiment.quality, seeds),
      **({"num_seeds": len(seeds), "seeds": list(seeds)} if seeds else {}),
      **({k: v for k, v in last_eval.items()
          if k not in ("kind", "step", "seconds")} if last_eval else {}),
  }
  files.write_json("final_metrics.json", final)
  if files.writer and experiment.summary_plot is not None and eval_records:
    experiment.summary_plot(eval_records, os.path.join(workdir, "curves.png"))
  files.close()
  return final
