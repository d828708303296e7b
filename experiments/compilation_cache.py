"""The persistent compilation cache of the experiment programs.

Most of a mixture run's set-up is XLA compiling its programs (the training
chunk, the auto-encoder's steps, the anchors, the evaluation): docs/RESULTS.md,
"Set-up and compilation". JAX can keep the compiled programs on disk
(`jax_compilation_cache_dir`), and a later process that compiles the same
program with the same shapes, flags and JAX version loads it instead. This
module is where the programs turn that cache on:

- `python -m experiments.mog` / `experiments.images`: `--compilation_cache`
  (default `default_directory()`, shared by every run of this user; an
  empty value turns it off);
- `python -m experiments.compare`: `<workdir>/jax_cache`
  (`--nocompilation_cache` turns it off).

Each CPU kind's folder holds at most `MAX_BYTES`; past that the least
recently used programs are evicted.

A compiled CPU program is built for the CPU it was compiled on, so each
directory holds one subfolder per CPU kind (`host_key`): a cache on a
network home or in a `runs/` folder moved to another machine is not read
by a CPU it was not built for. A `JAX_COMPILATION_CACHE_DIR` the user set
in the environment wins over both. The cache is trusted code: keep it in a
folder only you can write (JAX's own documentation says the same).
"""

import hashlib
import os
import platform
from typing import FrozenSet, Optional

from absl import logging
import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

# Programs are cached however quickly they compiled: a run's set-up is ~50
# small programs whose compilation adds up (JAX's default caches only those
# over one second).
MIN_COMPILE_SECONDS = 0.0
# The cache's size on disk, per CPU kind; the least recently used programs
# go first. A mixture run's programs take about a megabyte, an image run's
# more: the image set is a constant inside its training programs.
MAX_BYTES = 2**30


def cpu_flags() -> FrozenSet[str]:
  """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def host_key() -> str:
  """A short name for this CPU kind: its architecture and feature flags.

  Example:
    >>> len(host_key())
    12
  """
  features = " ".join(sorted(cpu_flags())) or platform.processor()
  text = f"{platform.machine()}|{features}"
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_directory() -> str:
  """`$XDG_CACHE_HOME/diwgan/jax`, or `~/.cache/diwgan/jax`."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  return os.path.join(base, "diwgan", "jax")


def enable(directory: str) -> Optional[str]:
  """Turns the cache on in `directory`'s subfolder for this CPU kind.

  Programs compiled from then on are read from and written to it; a cache
  this process used before is let go (a notebook or test may move it).
  Does nothing where the environment sets `JAX_COMPILATION_CACHE_DIR` (the
  user's choice stands).

  Returns:
    The folder the compiled programs go to; None where the environment's
    choice was kept or the folder cannot be created (a warning says why).
  """
  if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return None
  path = os.path.join(directory, host_key())
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as error:
    # A folder the run cannot write (a read-only home): one warning here
    # rather than one per compiled program, and the run goes on without.
    logging.warning("No compilation cache: cannot create %s (%s).", path,
                    error)
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs",
                    MIN_COMPILE_SECONDS)
  jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
  jax_cache.reset_cache()
  return path
