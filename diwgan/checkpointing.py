"""Orbax checkpoints of a `TrainState` plus the config that produced it.

This is the library's only module that touches files. A checkpoint holds the
whole train state (parameters, optimizer states, frozen auto-encoder, anchors,
importance buffers, step, key), so a resumed run continues
exactly where the interrupted one stopped.
"""

import json
import os
import shutil
from typing import Any, Dict, Iterable, Optional

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint is corrupt, unreadable or does not match the run."""


def _flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
  flat = {}
  if isinstance(tree, dict):
    for key, value in tree.items():
      flat.update(_flatten(value, f"{prefix}{key}."))
  else:
    flat[prefix[:-1]] = tree
  return flat


def config_differences(
    saved: Dict[str, Any], current: Dict[str, Any], *, ignore: Iterable[str] = ()
) -> Dict[str, Any]:
  """Fields (dotted names) whose values differ, minus `ignore` prefixes."""
  saved_flat, current_flat = _flatten(saved), _flatten(current)
  ignore = tuple(ignore)
  diffs = {}
  for name in sorted(set(saved_flat) | set(current_flat)):
    if name.startswith(ignore):
      continue
    old, new = saved_flat.get(name), current_flat.get(name)
    # JSON turns tuples into lists; compare through JSON on both sides.
    if json.dumps(old) != json.dumps(new):
      diffs[name] = (old, new)
  return diffs


class Checkpointer:
  """Saves and restores train states under `<workdir>/checkpoints`.

  Args:
    directory: checkpoint folder (created if missing).
    max_to_keep: how many recent checkpoints to keep.
  """

  def __init__(self, directory: str, *, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True
        ),
        item_names=("state", "config"),
    )

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def all_steps(self):
    return self._manager.all_steps()

  def save(self, step: int, state: Any, config: Dict[str, Any]) -> None:
    """Writes `state` and `config` (a JSON-able dict) as checkpoint `step`."""
    self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            config=ocp.args.JsonSave(config),
        ),
    )

  def set_aside(self, step: int, destination: str) -> None:
    """Moves checkpoint `step` out of the managed folder, to `destination`.

    For a damaged checkpoint: it is kept for inspection, and the run can
    write that step again.
    """
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    if os.path.exists(destination):
      shutil.rmtree(destination)
    shutil.move(os.path.join(self.directory, str(step)), destination)
    self._manager.reload()

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are on disk."""
    self._manager.wait_until_finished()

  def restore_config(self, step: int) -> Dict[str, Any]:
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(config=ocp.args.JsonRestore())
      )
    except Exception as error:  # orbax raises many types here
      raise CheckpointError(
          f"Checkpoint {step} in {self.directory} is corrupt or unreadable "
          f"(its config could not be read): {error}"
      ) from error
    return restored["config"]

  def restore(self, step: int, template: Any) -> Any:
    """Restores checkpoint `step` into the structure and shapes of `template`.

    Raises:
      CheckpointError: the checkpoint cannot be read or its arrays do not
        match `template` (another config, another method).
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(
          step,
          args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)),
      )
    except Exception as error:  # orbax raises many types here
      raise CheckpointError(
          f"Checkpoint {step} in {self.directory} could not be restored into "
          f"this run's state (corrupt, or written by a different config or "
          f"method): {type(error).__name__}: {error}"
      ) from error
    state = restored["state"]
    _check_shapes(template, state, step, self.directory)
    return state

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _check_shapes(template: Any, state: Any, step: int, directory: str) -> None:
  leaves_t, tree_t = jax.tree.flatten(template)
  leaves_s, tree_s = jax.tree.flatten(state)
  if tree_t != tree_s:
    raise CheckpointError(
        f"Checkpoint {step} in {directory} has a different structure than "
        f"this run's state."
    )
  for path_and_t, s in zip(jax.tree_util.tree_flatten_with_path(template)[0],
                           leaves_s):
    path, t = path_and_t
    if getattr(t, "shape", None) != getattr(s, "shape", None):
      raise CheckpointError(
          f"Checkpoint {step} in {directory} does not match this run: "
          f"{jax.tree_util.keystr(path)} has shape {s.shape} in the "
          f"checkpoint and {t.shape} in the run."
      )
