"""The command line: `python -m experiments.mog --config=<name>`."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "experiments.mog", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=timeout,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_cli_trains_with_overrides(tmp_path):
  result = _run(
      "--config=grid", "--method=gan", f"--workdir={tmp_path}",
      "--config.num_steps=20", "--config.log_every=10",
      "--config.eval.every=10", "--config.checkpoint_every=10",
      "--config.batch_size=64")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / "config.json") as f:
    config = json.load(f)
  assert config["dataset"] == "grid" and config["method"] == "gan"
  assert config["num_steps"] == 20 and config["batch_size"] == 64
  with open(tmp_path / "final_metrics.json") as f:
    assert json.load(f)["step"] == 20
  assert "steps/s" in result.stderr


def test_cli_unknown_config_lists_valid_ones(tmp_path):
  result = _run("--config=spiral", f"--workdir={tmp_path}", timeout=120)
  assert result.returncode != 0
  assert "ring, grid, random_grid, cube" in result.stderr


def test_cli_unknown_method(tmp_path):
  result = _run("--method=vae", f"--workdir={tmp_path}", timeout=120)
  assert result.returncode != 0
  assert "Unknown method 'vae'" in result.stderr
