"""The command line: `python -m experiments.mog --config=<name>`."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "experiments.mog", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=timeout,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_cli_trains_with_overrides(tmp_path):
  cache = tmp_path / "cache"
  result = _run(
      "--config=grid", "--method=gan", f"--workdir={tmp_path}",
      "--config.num_steps=20", "--config.log_every=10",
      "--config.eval.every=10", "--config.checkpoint_every=10",
      "--config.batch_size=64", f"--compilation_cache={cache}")
  assert result.returncode == 0, result.stderr[-3000:]
  # The compiled programs are kept, in one folder for this CPU kind.
  (kind,) = os.listdir(cache)
  assert any(name.startswith("jit_train_steps-")
             for name in os.listdir(cache / kind))
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


def _one_line_error(result):
  """The command failed with exit status 2 and one `error:` line, no trace."""
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("error: ")]
  assert len(errors) == 1, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  return errors[0]


def test_cli_unknown_method(tmp_path):
  result = _run("--method=vae", f"--workdir={tmp_path}", timeout=120)
  line = _one_line_error(result)
  assert "config.method='vae'" in line and "'diwgan'" in line


@pytest.mark.parametrize("args,expected", [
    (["--config.batch_size=0"], "config.batch_size=0: must be an integer >= 1"),
    (["--method=pacgan", "--config.batch_size=510"],
     "config.batch_size=510: must be a multiple of "
     "config.methods.pacgan.pack_size=4"),
    (["--config.diw.matcher=sinkhorn"], "config.diw.matcher='sinkhorn'"),
])
def test_cli_bad_config_fails_before_any_work(tmp_path, args, expected):
  result = _run(*args, f"--workdir={tmp_path}", timeout=120)
  assert expected in _one_line_error(result)
  # Refused before the auto-encoder or anything else ran.
  assert not os.path.exists(tmp_path / "anchor_quality.json")
  assert not os.path.exists(tmp_path / "checkpoints")
