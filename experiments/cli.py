"""The command line shared by `experiments.mog` and `experiments.images`.

Both programs take the same flags (`--config=<name>` with
`--config.<field>=<value>` overrides, `--method`, `--workdir`, `--seeds`,
`--num_devices` and the `jax.distributed` trio) and run the same `main`;
only the configs, the training function and the default folder differ.
The flags are defined when `run` is called, that is when a module is the
program, so that both modules (each with a `--config`) import side by side.
"""

import json
import logging as std_logging
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections.config_flags import config_flags

from diwgan import autoencoder
from diwgan import checkpointing
from experiments import compilation_cache
from experiments import flags_util
from experiments import loop
from experiments import records
from experiments import registry
from experiments import validation

ConfigFn = Callable[[str], ml_collections.ConfigDict]


class _QuietCheckpointer(std_logging.Filter):
  """Drops orbax's INFO chatter (tens of lines per save); keeps warnings."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or "/orbax/" not in record.pathname.replace("\\", "/"))


def run(
    *,
    get_config: ConfigFn,
    config_names: Sequence[str],
    default_config: str,
    train_and_evaluate: Callable[..., Any],
    family: str,
    kind: str,
    protocols: Sequence[str] = (),
    apply_protocol: Optional[Callable[[ml_collections.ConfigDict, str],
                                      ml_collections.ConfigDict]] = None,
) -> None:
  """Defines the flags, parses argv and trains (`absl.app.run`).

  Args:
    get_config: config name -> ConfigDict.
    config_names: the valid names (for `--help`).
    default_config: the name used without `--config`.
    train_and_evaluate: `(config, workdir, *, start_time) -> final metrics`,
      `start_time` being when this process started.
    family: the folder under runs/ used without `--workdir`
      (`records.default_workdir`).
    kind: words for `--help`, e.g. "Mixture" or "Image".
    protocols: the named protocols of `--protocol` (none: no such flag).
    apply_protocol: `(config, name) -> config`, applied after `--method`
      and before the `--config.<field>` overrides, which are applied again.
  """
  config_flag = flags_util.define_named_config(
      "config", get_config, default=default_config,
      help_string=f"{kind} config: one of {', '.join(config_names)}; "
      "override fields with --config.<field>=<value>.")
  method_flag = flags.DEFINE_string(
      "method", None, "Method (overrides config.method): "
      + ", ".join(registry.METHODS))
  workdir_flag = flags.DEFINE_string(
      "workdir", None, "Output folder (default derived from the config, "
      "method and seed); rerunning into it resumes.")
  seeds_flag = flags.DEFINE_integer(
      "seeds", None, "Train this many seeds (config.seed + i) together under "
      "vmap (overrides config.num_seeds).")
  num_devices_flag = flags.DEFINE_integer(
      "num_devices", None, "Devices the global batch is split over; 0 = all "
      "devices of all processes (overrides config.num_devices).")
  parallelism_flag = flags.DEFINE_enum(
      "parallelism", None, ["batch", "seeds"], "With --seeds and several "
      "devices: split every seed's batch over the devices (batch) or the "
      "seeds (seeds: each device trains whole seeds, no collectives); "
      "overrides config.parallelism.")
  protocol_flag = None
  if protocols:
    protocol_flag = flags.DEFINE_enum(
        "protocol", None, list(protocols), "Train in a paper's protocol "
        "(networks, noise, batch, optimizer, length; docs/baselines.md, "
        "'Protocol presets'); --config.<field> overrides still apply.")
  cache_flag = flags.DEFINE_string(
      "compilation_cache", compilation_cache.default_directory(),
      "Keep compiled programs here (a subfolder per CPU kind), so that a "
      "later run with the same programs and shapes, any seed, skips most "
      "of its compilation; empty: off (experiments.compilation_cache).")
  initialize_distributed = define_distributed_flags()

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    std_logging.getLogger("absl").addFilter(_QuietCheckpointer())
    initialize_distributed()
    if cache_flag.value:
      compilation_cache.enable(cache_flag.value)
    config = config_flag.value
    with config.unlocked():
      if method_flag.value is not None:
        config.method = method_flag.value
      if seeds_flag.value is not None:
        config.num_seeds = seeds_flag.value
      if num_devices_flag.value is not None:
        config.num_devices = num_devices_flag.value
      if parallelism_flag.value is not None:
        config.parallelism = parallelism_flag.value
      if protocol_flag is not None and protocol_flag.value is not None:
        apply_protocol(config, protocol_flag.value)
        config.update_from_flattened_dict(
            config_flags.get_override_values(flags.FLAGS["config"]))
    workdir = workdir_flag.value or records.default_workdir(family, config)
    logging.info("Training %s on %s into %s (backend %s, %d device(s)).",
                 config.method, config.dataset, workdir,
                 jax.default_backend(), jax.device_count())
    try:
      final = train_and_evaluate(config, workdir,
                                 start_time=process_start_time())
    except USER_ERRORS as error:
      exit_with_one_line(error)
    if jax.process_index() == 0:
      print(json.dumps(final, indent=2))

  app.run(main)


def define_distributed_flags() -> Callable[[], None]:
  """Defines `--coordinator_address`, `--num_processes`, `--process_id`.

  Returns the function that joins the `jax.distributed` run they describe
  (nothing without `--coordinator_address`); call it in `main` before any
  other JAX call, so that the processes find each other first.
  """
  coordinator = flags.DEFINE_string(
      "coordinator_address", None, "host:port of process 0; set it (with "
      "--num_processes and --process_id) to run over several processes "
      "with jax.distributed.")
  num_processes = flags.DEFINE_integer(
      "num_processes", None, "Number of processes of a jax.distributed run.")
  process_id = flags.DEFINE_integer(
      "process_id", None, "This process's index in a jax.distributed run.")

  def initialize():
    initialize_distributed(coordinator.value,
                                num_processes=num_processes.value,
                                process_id=process_id.value)

  return initialize


# Errors about what the user asked for, reported as one line (no traceback):
# a config value that is not allowed, an auto-encoder that fails its quality
# gate, a checkpoint of another config or a damaged one, a loss gone NaN.
# Anything else is a bug and keeps its traceback.
USER_ERRORS = (validation.ConfigError, autoencoder.AutoEncoderQualityError,
               checkpointing.CheckpointError, loop.NonFiniteLossError)


def exit_with_one_line(error: Exception) -> None:
  """Prints `error: <message>` to stderr and exits with status 2."""
  sys.stderr.write(f"error: {error}\n")
  sys.stderr.flush()
  sys.exit(2)


def initialize_distributed(
    coordinator_address: Optional[str],
    *,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
) -> None:
  """`jax.distributed.initialize` when a coordinator is given, else nothing.

  Call it first, before any other JAX call. On Cloud TPU pod slices and
  Slurm/Open MPI clusters JAX finds the three values itself: pass
  coordinator_address="auto" there.

  Args:
    coordinator_address: "host:port" of process 0, "auto", or None (one
      process).
    num_processes: number of processes.
    process_id: this process's index in [0, num_processes).
  """
  if coordinator_address is None:
    if num_processes not in (None, 1) or process_id not in (None, 0):
      raise ValueError("--num_processes/--process_id need "
                       "--coordinator_address.")
    return
  if coordinator_address == "auto":
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(
        coordinator_address, num_processes=num_processes,
        process_id=process_id)
  logging.info("Process %d of %d; %d local and %d global devices.",
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def process_start_time() -> float:
  """`time.time()` at which this process started (Linux), else now.

  The clock of `seconds_to_quality` starts here, so it counts the imports,
  the auto-encoder and the compilation, as a user waiting for the command
  sees them.
  """
  try:
    with open("/proc/self/stat") as f:
      # Fields after "pid (comm)": state is field 3, starttime field 22.
      fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - (uptime - started)
  except (OSError, ValueError, IndexError):
    return time.time()

