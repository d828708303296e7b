"""`experiments.compilation_cache`: where compiled programs are kept, and
that a later compilation of the same program loads them."""

import os

import jax
import jax.numpy as jnp

from experiments import compilation_cache


def test_host_key_names_the_cpu_kind(monkeypatch):
  monkeypatch.setattr(compilation_cache, "cpu_flags",
                      lambda: frozenset({"sse2", "avx2", "fma"}))
  avx2 = compilation_cache.host_key()
  monkeypatch.setattr(compilation_cache, "cpu_flags",
                      lambda: frozenset({"fma", "avx2", "sse2"}))
  assert compilation_cache.host_key() == avx2  # the order does not matter
  monkeypatch.setattr(compilation_cache, "cpu_flags",
                      lambda: frozenset({"sse2", "avx2", "fma", "avx512f"}))
  assert compilation_cache.host_key() != avx2
  assert len(avx2) == 12 and int(avx2, 16) >= 0


def test_default_directory_follows_xdg_cache_home(monkeypatch, tmp_path):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert compilation_cache.default_directory() == str(
      tmp_path / "diwgan" / "jax")
  monkeypatch.delenv("XDG_CACHE_HOME")
  assert compilation_cache.default_directory() == os.path.join(
      os.path.expanduser("~"), ".cache", "diwgan", "jax")


def test_a_second_compilation_loads_the_first(tmp_path,
                                              restore_cache_settings):
  del restore_cache_settings
  events = []
  listen = lambda name, **kwargs: events.append(name)
  jax.monitoring.register_event_listener(listen)
  path = compilation_cache.enable(str(tmp_path))
  assert path == str(tmp_path / compilation_cache.host_key())

  def program(x):  # a program no other test compiles
    return jnp.cumsum(jnp.sin(x) * 7.25) / 3.0

  x = jnp.arange(37.0)
  first = jax.jit(program)(x)
  written = os.listdir(path)
  assert any(name.startswith("jit_program-") for name in written), written
  hits = events.count("/jax/compilation_cache/cache_hits")
  jax.clear_caches()  # what a new process starts from
  second = jax.jit(program)(x)
  assert events.count("/jax/compilation_cache/cache_hits") > hits
  assert sorted(os.listdir(path)) == sorted(written)
  assert jnp.array_equal(first, second)
  jax.monitoring.unregister_event_listener(listen)


def test_the_environment_choice_stands(tmp_path, monkeypatch,
                                       restore_cache_settings):
  del restore_cache_settings
  before = jax.config.values["jax_compilation_cache_dir"]
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "user"))
  assert compilation_cache.enable(str(tmp_path / "ours")) is None
  assert jax.config.values["jax_compilation_cache_dir"] == before


def test_every_seed_loads_the_programs_of_the_first(tmp_path,
                                                    restore_cache_settings):
  """Seeds enter the programs as arguments: seed 1 compiles nothing new."""
  del restore_cache_settings
  from experiments.configs import mixtures  # pylint: disable=g-import-not-at-top
  from experiments import mog  # pylint: disable=g-import-not-at-top

  path = compilation_cache.enable(str(tmp_path / "cache"))
  written = []
  for seed in (0, 1):
    config = mixtures.get_config("ring")
    config.seed = seed
    config.num_steps = 10
    config.batch_size = 32
    config.num_real = 500
    config.autoencoder.steps = 50
    config.autoencoder.batch_size = 64
    config.autoencoder.max_relative_mse = 1.0  # the gate is not the point
    config.log_every = config.eval.every = config.checkpoint_every = 10
    config.eval.num_samples = 128
    mog.train_and_evaluate(config, str(tmp_path / f"seed{seed}"))
    written.append(sorted(os.listdir(path)))
  assert any(name.startswith("jit_train_steps-") for name in written[0])
  assert written[1] == written[0], sorted(set(written[1]) - set(written[0]))


def test_a_folder_that_cannot_be_made_leaves_the_cache_off(
    tmp_path, restore_cache_settings):
  del restore_cache_settings
  before = jax.config.values["jax_compilation_cache_dir"]
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  assert compilation_cache.enable(str(blocker / "cache")) is None
  assert jax.config.values["jax_compilation_cache_dir"] == before


def test_the_cache_keeps_to_its_size(tmp_path, monkeypatch,
                                     restore_cache_settings):
  """Past MAX_BYTES the least recently used programs are evicted."""
  del restore_cache_settings
  monkeypatch.setattr(compilation_cache, "MAX_BYTES", 40_000)
  path = compilation_cache.enable(str(tmp_path))

  def size():
    return sum(os.path.getsize(os.path.join(path, name))
               for name in os.listdir(path) if name.endswith("-cache"))

  first = None
  for scale in range(1, 9):  # distinct programs, each a few kilobytes
    jax.jit(lambda x, s=float(scale): jnp.cumsum(jnp.cos(x) * s) ** 2)(
        jnp.arange(19.0 + scale))
    first = first or sorted(os.listdir(path))
    assert size() <= compilation_cache.MAX_BYTES
  assert not set(first) <= set(os.listdir(path))  # the oldest went first
