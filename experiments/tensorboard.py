"""TensorBoard event files of a run (`--config.tensorboard=True`).

The loop hands every record it writes to `metrics.jsonl` (train chunks and
evaluations) and every sample PNG to a `TensorBoardWriter`, which writes them
under `<workdir>/tensorboard/` with tensorboardX: a well-kept writer that
needs no TensorFlow (`pip install -e ".[tensorboard]"`). View with

  tensorboard --logdir runs/mog
"""

import importlib.util
import numbers
from typing import Any, Dict

import matplotlib.image
import numpy as np


def available() -> bool:
  """True when tensorboardX can be imported."""
  return importlib.util.find_spec("tensorboardX") is not None


class TensorBoardWriter:
  """Scalars of the loop's records and the sample figures, as event files.

  Args:
    logdir: folder of the event files.
  """

  def __init__(self, logdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._writer = SummaryWriter(logdir)

  def record(self, record: Dict[str, Any]) -> None:
    """Each number of a loop record as scalar `<kind>/<name>` at its step."""
    kind, step = record["kind"], record["step"]
    for name, value in record.items():
      if name in ("kind", "step") or isinstance(value, bool):
        continue
      if isinstance(value, numbers.Real) and np.isfinite(value):
        self._writer.add_scalar(f"{kind}/{name}", value, step)
    self._writer.flush()

  def image(self, tag: str, path: str, step: int) -> None:
    """The PNG at `path` (a figure the run wrote) as image `tag`."""
    pixels = matplotlib.image.imread(path)  # (H, W, 3 or 4), floats in [0, 1]
    self._writer.add_image(tag, pixels[..., :3], step, dataformats="HWC")
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
