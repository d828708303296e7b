"""The one training loop of every experiment: compile, train, evaluate, save.

The family builds the pieces (`experiments.runs.Experiment`), this loop
runs them, `experiments.records` writes the run's files and
`experiments.report` turns records into statistics.

`train` drives a `diwgan.training.Trainer` in compiled chunks of
`config.log_every` steps (lax.scan), logs progress, evaluates on schedule,
writes metrics as JSON lines and checkpoints with orbax. An interrupted run
resumes from its last checkpoint and produces the same result as an
uninterrupted one, because step t's randomness is `fold_in(key, t)` and
chunks always start at multiples of `log_every`.

Scale (docs/scaling.md): `config.num_devices` devices (0: all, every host's)
train one global batch of `config.batch_size` data-parallel with a replicated
state, and `config.num_seeds` independent runs (seeds `config.seed`, ...,
`config.seed + num_seeds - 1`) train together under `jax.vmap`
(`experiments.runs.build_runs`). Checkpoints hold one copy of the
state, so a run resumes on any device count. With several processes (`jax.distributed`), every process
runs this loop; only process 0 writes the JSON, PNG files, and orbax
coordinates the checkpoint writes.
"""

import json
import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from diwgan import checkpointing
from diwgan import parallel
from diwgan.training import TrainState
from experiments import records
from experiments import report
from experiments.runs import Experiment
from experiments import tensorboard as tensorboard_lib

# Config fields that may change between an interrupted run and its resume.
RESUMABLE_FIELDS = (
    "num_steps", "eval", "log_every", "checkpoint_every",
    "checkpoints_to_keep", "num_devices", "parallelism", "tensorboard",
)



class NonFiniteLossError(FloatingPointError):
  """A loss became NaN or infinite; the message names step and checkpoint."""



def _first_non_finite(metrics: Dict[str, np.ndarray]) -> Optional[tuple]:
  """(step offset, metric, value, run) of the first NaN/inf loss, or None."""
  for name in ("d_loss", "g_loss"):
    values = np.atleast_2d(metrics[name])  # (runs, steps)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
      run, offset = min(bad.tolist(), key=lambda rc: (rc[1], rc[0]))
      return offset, name, float(values[run, offset]), run
  return None



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



def _check_resumable(checkpointer, step: int, config_dict: dict) -> None:
  """Raises if checkpoint `step` was written with another config."""
  saved_config = checkpointer.restore_config(step)
  # Checkpoints from before `num_seeds` existed hold one run.
  if "num_seeds" in config_dict:
    saved_config.setdefault("num_seeds", 1)
  # `methods.<name>` configures method <name> only: another method's fields
  # (one added since the checkpoint, say) do not change this run.
  method = config_dict.get("method")
  others = {name for c in (saved_config, config_dict)
            for name in c.get("methods", {}) if name != method}
  diffs = checkpointing.config_differences(
      saved_config, config_dict,
      ignore=(*RESUMABLE_FIELDS, *(f"methods.{name}." for name in others)))
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
  return state, [r for r in records.read_jsonl(files.metrics_path)
                 if r["step"] <= latest]



def train(
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
  files = records.RunFiles(
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

  state, kept = _start_or_resume(experiment, checkpointer, place,
                                    config_dict, files)
  files.rewrite_metrics(kept)
  # The run's clock: seconds since the command started, continued from the
  # last kept record when resuming.
  offset = kept[-1].get("seconds", 0.0) if kept else 0.0

  def clock() -> float:
    return offset + time.time() - session_start

  train_chunk = parallel.make_train_steps(
      experiment.trainer, mesh=mesh, vmap_runs=seeds is not None,
      shard_runs=shard_seeds)
  step = int(np.asarray(parallel.local_copy(state.step)).reshape(-1)[0])
  eval_records = [r for r in kept if r["kind"] == "eval"]

  def run_eval(state, step):
    # One device's copy: the evaluation of a one-device run, on any mesh.
    state = parallel.local_copy(state)
    result = report.summarise_runs(experiment.evaluate(state), seeds)
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
      **report.first_quality(eval_records, experiment.quality, seeds),
      **({"num_seeds": len(seeds), "seeds": list(seeds)} if seeds else {}),
      **({k: v for k, v in last_eval.items()
          if k not in ("kind", "step", "seconds")} if last_eval else {}),
  }
  files.write_json("final_metrics.json", final)
  if files.writer and experiment.summary_plot is not None and eval_records:
    experiment.summary_plot(eval_records, os.path.join(workdir, "curves.png"))
  files.close()
  return final

