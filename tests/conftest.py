"""Strict JAX settings for every test: rank promotion raises, float32."""

import contextlib
import pathlib
import shutil
import tempfile

import jax
import pytest

from experiments import compilation_cache

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_enable_x64", False)

# The 8-device scenarios of tests/test_scale.py, once started.
_EIGHT_DEVICES = pytest.StashKey()


def pytest_collection_finish(session):
  """Starts tests/test_scale.py's 8-device scenarios (a subprocess of a few
  minutes) as soon as the run is known to hold a test that waits for them,
  so that they run beside the tests before that module, not in front of
  it."""
  if session.config.option.collectonly:
    return
  for item in session.items:
    if "eight_devices" in getattr(item, "fixturenames", ()):
      folder = pathlib.Path(tempfile.mkdtemp(prefix="eight_devices_"))
      session.config.stash[_EIGHT_DEVICES] = (
          item.module.start_eight_devices(folder), folder)
      return


def pytest_sessionfinish(session):
  started = session.config.stash.get(_EIGHT_DEVICES, None)
  if started is not None:
    scenarios, folder = started
    scenarios.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def started_eight_devices(request):
  """The 8-device scenarios conftest.py started at collection, or None."""
  started = request.config.stash.get(_EIGHT_DEVICES, None)
  return None if started is None else started[0]


@pytest.fixture
def debug_nans():
  """Turns on `jax_debug_nans` for a numerical test."""
  jax.config.update("jax_debug_nans", True)
  try:
    yield
  finally:
    jax.config.update("jax_debug_nans", False)


@pytest.fixture(scope="module")
def fast_compile():
  """Skips XLA's optimisations for a module of tiny models, which run in
  microseconds: ~35% less compile time, most of such tests' cost."""
  saved = jax.config.values["jax_disable_most_optimizations"]
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", saved)


@pytest.fixture
def training_spy(monkeypatch):
  """`spy(module)`: records (method, seed) of each `module.train_and_evaluate`
  call made by the comparison harness, then trains as usual."""
  trained = []

  def spy(module):
    original = module.train_and_evaluate

    def recording(config, path):
      trained.append((config.method, config.seed))
      return original(config, path)
    monkeypatch.setattr(module, "train_and_evaluate", recording)
    return trained
  return spy


@pytest.fixture
def without_timings():
  """`strip(runs)`: the harness's run records less their wall-clock fields
  and curves, to compare a resumed comparison with an uninterrupted one."""
  def strip(runs):
    return [{k: v for k, v in r.items()
             if k not in ("curve", "train_seconds", "seconds_per_step")}
            for r in runs]
  return strip


# The process-wide settings `compilation_cache.enable` changes.
_CACHE_SETTINGS = ("jax_compilation_cache_dir",
                   "jax_persistent_cache_min_compile_time_secs",
                   "jax_compilation_cache_max_size")


@contextlib.contextmanager
def _cache_settings_kept():
  """Gives the process back its own compilation-cache settings afterwards."""
  saved = {name: jax.config.values[name] for name in _CACHE_SETTINGS}
  try:
    yield
  finally:
    for name, value in saved.items():
      jax.config.update(name, value)
    compilation_cache.jax_cache.reset_cache()


@pytest.fixture
def restore_cache_settings(monkeypatch):
  """A test that moves the compilation cache, its environment variable
  unset; the process's settings come back after it."""
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  with _cache_settings_kept():
    yield


@pytest.fixture(scope="module")
def module_compilation_cache(tmp_path_factory):
  """A persistent compilation cache for one module's tests
  (`compilation_cache.enable`): a later run of a program loads it."""
  with _cache_settings_kept():
    compilation_cache.enable(str(tmp_path_factory.mktemp("jax_cache")))
    yield
