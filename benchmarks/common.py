"""Helpers shared by the benchmark scripts: machine, JSON output, timing.

Timings on a shared machine move with its load, so every benchmark records
the load average before and after it ran, and compares implementations only
side by side within one run (interleaved, ratios).
"""

import dataclasses
import datetime
import json
import os
import platform
import time
from typing import Any, Callable, Mapping

import jax
import numpy as np

from experiments import compilation_cache


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
  flags = compilation_cache.cpu_flags()
  if not flags:
    return "unknown"
  found = sorted(f for f in flags
                 if f in ("avx", "avx2", "fma") or f.startswith("avx512"))
  return ", ".join(found) or "no AVX"


# Caps on the instruction set a run could use, recorded where set: XLA's
# code generation (`--xla_cpu_max_isa`) and the auction kernel's path.
# (platform key, environment variable).
ISA_CAPS = (("xla_flags", "XLA_FLAGS"),
            ("auction_isa_cap", "DIWGAN_AUCTION_ISA"))


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
      **{key: os.environ[name] for key, name in ISA_CAPS
         if os.environ.get(name)},
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


def timed_call(fn: Callable[..., Any], *args, **kwargs) -> tuple[Timer, Any]:
  """Times one call of `fn`, its result blocked until ready inside the timing.

  Returns:
    (the `Timer` of the call, its result).
  """
  with Timer() as timer:
    out = jax.block_until_ready(fn(*args, **kwargs))
  return timer, out


@dataclasses.dataclass
class CallTimes:
  """The timings of one function in `time_calls`.

  Attributes:
    first: the `Timer` of the first call (jit compilation and warm-up), not
      among the samples.
    wall: wall-clock seconds of each timed call.
    cpu: process-CPU seconds of each timed call.
  """
  first: Timer
  wall: list[float]
  cpu: list[float]


def time_calls(fns: Mapping[str, Callable[[], Any]],
               repeats: int) -> dict[str, CallTimes]:
  """Times `repeats` calls of each function after one warm-up call.

  Every function is called once first (compilation and warm-up, kept apart
  as `first`), then `repeats` rounds call them in turn, interleaved so that a
  change of machine load affects them alike. Each call's result is blocked
  until ready inside its timing (`timed_call`).

  Args:
    fns: name -> function of no arguments.
    repeats: timed calls of each function.

  Returns:
    name -> its `CallTimes`.
  """
  times = {}
  for name, fn in fns.items():
    first, _ = timed_call(fn)
    times[name] = CallTimes(first=first, wall=[], cpu=[])
  for _ in range(repeats):
    for name, fn in fns.items():
      timer, _ = timed_call(fn)
      times[name].wall.append(timer.wall)
      times[name].cpu.append(timer.cpu)
  return times


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
  """Median wall-clock seconds of `repeats` calls of `fn` after a warm-up."""
  return float(np.median(time_calls({"fn": fn}, repeats)["fn"].wall))


def continuing(train: Callable[[Any, int], Any], state: Any,
               steps: int) -> Callable[[], Any]:
  """A function of no arguments running `steps` steps of `train` per call.

  Each call continues from the state the previous call returned (the first
  from `state`), as the training loop does.

  Args:
    train: `(state, steps) -> (state, metrics)`.
    state: the state of the first call.
    steps: the steps argument of every call.

  Returns:
    The function, returning each call's `(state, metrics)`.
  """
  def call():
    nonlocal state
    out = train(state, steps)
    state = out[0]
    return out
  return call
