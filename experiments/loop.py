"""The one training loop of every experiment: compile, train, evaluate, save.

`train_and_evaluate` drives a `diwgan.training.Trainer` in compiled chunks of
`config.log_every` steps (lax.scan), logs progress, evaluates on schedule,
writes metrics as JSON lines and checkpoints with orbax. An interrupted run
resumes from its last checkpoint and produces the same result as an
uninterrupted one, because step t's randomness is `fold_in(key, t)` and
chunks always start at multiples of `log_every`.
"""

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from diwgan import checkpointing
from diwgan.training import Trainer, TrainState

# Config fields that may change between an interrupted run and its resume.
RESUMABLE_FIELDS = (
    "num_steps", "eval", "log_every", "checkpoint_every",
    "checkpoints_to_keep",
)


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
  """

  trainer: Trainer
  initial_state: Callable[[], TrainState]
  template_state: Callable[[], TrainState]
  evaluate: Callable[[TrainState], Dict[str, float]]
  plot: Optional[Callable[[TrainState, str], None]] = None
  summary_plot: Optional[Callable[[list, str], None]] = None


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
  for name in ("d_loss", "g_loss"):
    values = metrics[name]
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
      return int(bad[0]), name, float(values[bad[0]])
  return None


def train_and_evaluate(
    experiment: Experiment, config: ml_collections.ConfigDict, workdir: str
) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; returns the final evaluation.

  Writes to `workdir`: `metrics.jsonl` (one line per logged chunk, kind
  "train", and per evaluation, kind "eval"), `samples_<step>.png`,
  `curves.png`, `final_metrics.json`, `config.json` and `checkpoints/`.
  """
  _check_schedule(config)
  os.makedirs(workdir, exist_ok=True)
  config_dict = json.loads(config.to_json())
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(config_dict, f, indent=2)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"),
      max_to_keep=config.checkpoints_to_keep,
  )
  trainer = experiment.trainer

  latest = checkpointer.latest_step()
  if latest is None:
    state = experiment.initial_state()
    records = []
  else:
    saved_config = checkpointer.restore_config(latest)
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
    state = checkpointer.restore(latest, experiment.template_state())
    # Drop what was logged after the checkpoint: those steps run again.
    records = [r for r in _read_jsonl(metrics_path) if r["step"] <= latest]
    logging.info("Resumed from checkpoint at step %d in %s.", latest,
                 checkpointer.directory)
  _write_jsonl(metrics_path, records)

  train_chunk = jax.jit(trainer.train_steps, static_argnums=1,
                        donate_argnums=0)
  evaluate = experiment.evaluate
  step = int(state.step)
  eval_records = [r for r in records if r["kind"] == "eval"]

  def run_eval(state, step):
    result = {k: _to_python(v) for k, v in evaluate(state).items()}
    record = {"kind": "eval", "step": step, **result}
    eval_records.append(record)
    with open(metrics_path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if experiment.plot is not None:
      experiment.plot(state, os.path.join(workdir, f"samples_{step:06d}.png"))
    logging.info("eval step %d: %s", step, ", ".join(
        f"{k}={v:.4g}" for k, v in result.items()))
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
      offset, name, value = bad
      good = checkpointer.latest_step()
      checkpointer.close()
      raise NonFiniteLossError(
          f"{name} became {value} at step {step + offset + 1}. Last good "
          f"checkpoint: "
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
    with open(metrics_path, "a") as f:
      f.write(json.dumps(record) + "\n")
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
      **({k: v for k, v in last_eval.items() if k not in ("kind", "step")}
         if last_eval else {}),
  }
  with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
    json.dump(final, f, indent=2)
  if experiment.summary_plot is not None and eval_records:
    experiment.summary_plot(eval_records, os.path.join(workdir, "curves.png"))
  return final
