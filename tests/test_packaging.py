"""The wheel a user gets (`pip install .`, `pip install git+...`) holds
`diwgan` alone: no top-level `experiments` or `benchmarks` to clash with a
user's own packages (those run from a checkout, README.md)."""

import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_wheel_installs_the_library_alone(tmp_path):
  # Build from a copy, so that the build leaves nothing in the checkout.
  source = tmp_path / "source"
  shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
      ".git", "runs", "build", "dist", "*.egg-info", "__pycache__",
      ".pytest_cache", ".hypothesis", "*.so"))
  dist = tmp_path / "dist"
  subprocess.run(
      [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
       "--quiet", "--wheel-dir", str(dist)], check=True)
  (wheel,) = glob.glob(str(dist / "diwgan-*.whl"))
  with zipfile.ZipFile(wheel) as archive:
    top = {name.split("/")[0] for name in archive.namelist()}
  assert {t for t in top if not t.endswith(".dist-info")} == {"diwgan"}, top

  site = tmp_path / "site"
  subprocess.run(
      [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
       "--target", str(site), wheel], check=True)
  assert {t for t in os.listdir(site) if not t.endswith(".dist-info")} == {
      "diwgan"}, os.listdir(site)
  # The installed library imports and runs from there, away from the
  # checkout; `experiments` is not importable from the install.
  check = (
      "import importlib.util, diwgan, jax.numpy as jnp\n"
      "from diwgan import distances\n"
      "assert diwgan.__file__.startswith(%r), diwgan.__file__\n"
      "assert importlib.util.find_spec('experiments') is None\n"
      "print(float(distances.pairwise_distances("
      "jnp.zeros((1, 2)), jnp.ones((1, 2)))[0, 0]))\n" % str(site))
  env = dict(os.environ, PYTHONPATH=str(site))
  out = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env,
                       check=True, capture_output=True, text=True)
  assert abs(float(out.stdout.strip()) - 2 ** 0.5) < 1e-6, out.stdout
