"""Helpers shared by the benchmark scripts: machine description, JSON output.

Timings on a shared machine move with its load, so every benchmark records
the load average before and after it ran, and compares implementations only
side by side within one run (interleaved, ratios).
"""

import datetime
import json
import os
import platform
import time

import jax


def cpu_model() -> str:
  """The CPU model name from /proc/cpuinfo (or `platform.processor()`)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def vector_extensions() -> str:
  """The CPU's wide vector extensions (AVX2, AVX-512 ...) from /proc/cpuinfo."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
          found = sorted(f for f in flags
                         if f in ("avx", "avx2", "fma") or f.startswith("avx512"))
          return ", ".join(found) or "no AVX"
  except OSError:
    pass
  return "unknown"


def machine_info() -> dict:
  """What ran the benchmark: CPU, cores, JAX backend and device, load."""
  return {
      "cpu_model": cpu_model(),
      "cpu_count": os.cpu_count(),
      "vector_extensions": vector_extensions(),
      "machine": platform.machine(),
      "python": platform.python_version(),
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "device": str(jax.devices()[0].device_kind),
      "load_average_start": list(os.getloadavg()),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
  }


def finish(results: dict, path: str, command: str) -> None:
  """Adds the end load average and the command, writes `results` to `path`."""
  results["command"] = command
  results["platform"]["load_average_end"] = list(os.getloadavg())
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w") as f:
    json.dump(results, f, indent=2)
  print(f"\nWrote {path}")


class Timer:
  """Wall-clock and process-CPU seconds of a block (`with Timer() as t`).

  The process CPU time counts the work of every thread of this process and
  not the time spent waiting for a core, so on a loaded machine it is the
  steadier of the two; both are reported.
  """

  def __enter__(self):
    self._wall = time.perf_counter()
    self._cpu = time.process_time()
    return self

  def __exit__(self, *exc):
    self.wall = time.perf_counter() - self._wall
    self.cpu = time.process_time() - self._cpu
    return False
