"""A run's folder: its name, its JSON-lines records and the files it writes.

Every run (`experiments.loop.train`) leaves `metrics.jsonl` (one record per
logged chunk, kind "train", and per evaluation, kind "eval"), PNGs, JSON
files and optionally TensorBoard events; `RunFiles` writes them (process 0
alone) and `read_jsonl` reads the records back for resuming and for the
comparison harness.
"""

import dataclasses
import json
import os
from typing import Any, Callable, Optional

import ml_collections
import numpy as np

from experiments import tensorboard as tensorboard_lib


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


def to_python(value: Any) -> Any:
  """A 0-d array or number as a Python int (integer and bool dtypes) or float."""
  value = np.asarray(value)
  if value.dtype.kind in "iub":
    return int(value)
  return float(value)


def read_jsonl(path: str) -> list:
  """The records of a JSON-lines file; [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, records: list) -> None:
  """Writes `records`, one JSON object per line (replacing the file)."""
  with open(path, "w") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")


@dataclasses.dataclass
class RunFiles:
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
      write_jsonl(self.metrics_path, records)

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

