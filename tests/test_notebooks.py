"""Every notebook executes end to end (small runs, CPU) and is stored stripped.

The notebooks read `DIWGAN_SMALL_RUN=1` (set here) and shrink their runs to
smoke tests; the kernel runs on CPU with the strict settings of conftest.py.
`multi_device.ipynb` asks for 8 emulated CPU devices itself.
"""

import glob
import json
import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
EXPECTED = {"quickstart.ipynb", "reuse_the_loss.ipynb", "multi_device.ipynb"}
TIMEOUT_PER_CELL = 900


def _ids(paths):
  return [os.path.basename(p) for p in paths]


def test_every_notebook_is_here():
  assert EXPECTED <= set(_ids(NOTEBOOKS)), _ids(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
  notebook = nbformat.read(path, as_version=4)
  nbformat.validate(notebook)
  # nbformat adds missing cell ids on read (with a warning): check the file.
  with open(path) as f:
    ids = [cell.get("id") for cell in json.load(f)["cells"]]
  assert None not in ids and len(set(ids)) == len(ids), f"{path}: cell ids"
  for index, cell in enumerate(notebook.cells):
    if cell.cell_type != "code":
      continue
    assert not cell.outputs, f"{path}: cell {index} has outputs; strip them."
    assert cell.execution_count is None, f"{path}: cell {index} was run."
  sources = [cell.source for cell in notebook.cells]
  assert any("SMALL_RUN" in source for source in sources), path
  assert any("find_spec(\"diwgan\")" in source for source in sources), path


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, tmp_path, monkeypatch):
  nbclient = pytest.importorskip("nbclient")
  monkeypatch.setenv("DIWGAN_SMALL_RUN", "1")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("JAX_NUMPY_RANK_PROMOTION", "raise")
  monkeypatch.setenv("JAX_ENABLE_X64", "0")
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv(
      "PYTHONPATH", os.pathsep.join(
          p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
  notebook = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(
      notebook, timeout=TIMEOUT_PER_CELL, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}})
  client.execute()  # raises CellExecutionError with the failing cell
