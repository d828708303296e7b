"""The standalone example scripts run, and use only diwgan's pure functions."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "diw_loss_in_your_gan.py")
# The pure API a user's own GAN may import (docs/api.md).
PURE_MODULES = {
    "diwgan", "diwgan.diw", "diwgan.assignment", "diwgan.distances",
    "diwgan.importance",
    "diwgan.kde", "diwgan.losses",
}


def test_example_imports_only_pure_functions():
  with open(EXAMPLE) as f:
    tree = ast.parse(f.read())
  imported = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      imported.add(node.module)
    elif isinstance(node, ast.Import):
      imported.update(alias.name for alias in node.names)
  from_diwgan = {m for m in imported if m.split(".")[0] == "diwgan"}
  assert from_diwgan, "the example should use diwgan's pure functions"
  assert from_diwgan <= PURE_MODULES, from_diwgan - PURE_MODULES
  assert not any(m.split(".")[0] == "experiments" for m in imported)


def test_example_trains_a_few_steps(tmp_path):
  result = subprocess.run(
      [sys.executable, EXAMPLE, "--steps=20", "--log_every=10",
       "--batch_size=64"],
      cwd=tmp_path, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 0, result.stderr[-3000:]
  assert "step 20:" in result.stdout, result.stdout
  assert "modes" in result.stdout.splitlines()[-1], result.stdout
  # The DIW term is finite and the step ran the matching.
  last = result.stdout.split("step 20:")[1].splitlines()[0]
  assert "nan" not in last.lower(), last
