r"""Trains every (data set, method, seed) and writes the paper's Table 1.

  python -m experiments.compare --configs=ring,grid,random_grid,cube \
      --methods=gan,unrolled,veegan,pacgan,gne,bms_vae_gan,diwgan --seeds=10 \
      --workdir=runs/compare --config.num_steps=5000
  python -m experiments.compare --workdir=runs/compare --only_report
  python -m experiments.compare --configs=ring --seeds=1 --tune \
      --workdir=runs/tune --config.num_steps=4000
  python -m experiments.compare --configs=ring,grid --seeds=3 \
      --equal_time_to=diwgan --workdir=runs/equal_time

Every run is one `experiments.mog.train_and_evaluate` call in its own folder
`<workdir>/<data set>/<method>/seed<k>/`, so a finished run (one whose
`final_metrics.json` reaches `num_steps`) is not trained again and an
interrupted one resumes from its last checkpoint. A run that stops on a
non-finite loss (or a DIW run whose auto-encoder fails its gate) is recorded
as failed (`failed.json`) and counted in the table; `--retry_failed` trains
it again. `--config.<field>=<value>` overrides apply to every run (the data
set, method and seed come from `--configs`, `--methods` and `--seeds`),
on top of each method's tuned learning rates (`--learning_rates`: `ring`,
the picks of the grid on the ring, `experiments.registry.LEARNING_RATES`;
`per_set`, each data set's own picks where it has them,
`experiments.registry.PER_SET_LEARNING_RATES`; `config`, none:
`--notuned_learning_rates` does the same). `--tune` runs the learning-rate
grid instead (`tune_learning_rates`).
`--seeds=S` means seeds 0..S-1; `--vmap_seeds` trains the seeds of each
(data set, method) in one vmapped program (`train_vmapped_seeds`).

The image sets go through the same code path (`--configs=digits,
stacked_digits`, docs/images.md): each run is one
`experiments.images.train_and_evaluate` call instead (`Family`, `IMAGES`),
resumed, recorded and reported the same way, with the image metrics
(modes of 10 or 1,000, KL to uniform, the classifier's accuracy) in place
of the mixtures'; the runs of a comparison share one digit classifier,
`<workdir>/classifier`. One `--configs` holds one family. On images,
`--learning_rates=per_set` takes `registry.PER_SET_LEARNING_RATES[<image
set>]` where it has the method, and every other choice keeps the config's
own optimizer (the ring's picks are for the mixtures' MLPs); `--tune` runs
the same grid, best = lowest KL. `--config.<field>` overrides of image-only
fields need an image set as their carrier (`--config=digits`);
`--equal_time_to`, `--plan` and `--protocol` are the mixtures' only.
`--collect_only` writes the report of the runs finished so far and trains
nothing; `--plan` prints the runs left to train and their training hours at
the measured step costs (`plan_comparison`). `--equal_time_to=<method>` gives every method the training seconds of that
method's run instead of its steps (`equal_time_protocol`): each method's
steps are scaled by its step cost as measured by `benchmarks.method_steps`
(`--step_costs`), so the table answers "which method, for the same time?".

Writes to `--workdir`:
  results.json  protocol and raw per-seed metrics, timings and eval curves;
                `--only_report` rebuilds everything below from it alone.
  table.md      Table 1 layout: rows data set x metric (modes, strict modes,
                HQS %, JSD, ms per step, step time relative to `gan`),
                columns methods, cells "mean (std)" over seeds; then each
                seed's time to quality (every mode and HQS >= 80%).
  samples.png   final samples of the first seed, rows methods, cols data sets
                (the runs' own last `samples_<step>.png`, tiled).
  curves.png    modes and HQS against steps and against training seconds,
                mean over seeds.

This module is the protocol: which runs, where, trained how and for how long
(`run_config`, `run_dir`, `run_comparison`, `plan_comparison`, equal time,
`tune_learning_rates`, the command line). The report, everything that turns
results.json into statistics, tables and figures (`mean_std`, the "mean
(std)" cells, `format_table`, `reproduction_table`, `table_markdown`,
`write_report`, the plots), lives in `experiments.report`, which needs
neither this module nor the training loop.
"""

import copy
import dataclasses
import importlib
import json
import math
import os
import shutil
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections.config_flags import config_flags
import numpy as np

from diwgan import autoencoder as autoencoder_lib
from diwgan.data import images as image_data
from diwgan.data import mog as mog_data
from experiments import cli
from experiments import compilation_cache
from experiments.configs import image_sets
from experiments.configs import mixtures
from experiments import flags_util
from experiments import loop
from experiments import records
from experiments import registry
from experiments import report
from experiments import validation

RESULTS = "results.json"
FAILED = "failed.json"
METRICS = ("modes", "strict_modes", "hqs", "jsd")
# Fields set per run by the harness itself, not by --config overrides.
PER_RUN_FIELDS = ("dataset", "method", "seed")
# Where `run_config` takes each method's learning rates from.
LEARNING_RATE_CHOICES = ("ring", "per_set", "config")
# Exceptions that are an outcome of a method on a seed, not a harness error.
RUN_FAILURES = (loop.NonFiniteLossError, autoencoder_lib.AutoEncoderQualityError)
# Keys of an evaluation record that are not metrics.
_NOT_METRICS = ("kind", "step", "seconds")


@dataclasses.dataclass(frozen=True)
class Family:
  """An experiment family the harness trains: its configs and its program.

  Attributes:
    name: "mixtures" or "images".
    configs: the data sets (config names) of the family.
    get_config: config name -> its default config.
    program: the module that trains a run, `experiments.mog` or
      `experiments.images`: every run is its
      `train_and_evaluate(config, path)`. Imported on first use, so that a
      comparison of the mixtures never imports the image program (which
      sets an environment variable of JAX's for its own process).
    tune_metric: the metric whose lowest mean over data sets and seeds
      picks a method's learning rates (`tune_learning_rates`).
    tune_grid: the (generator lr, discriminator lr) pairs `--tune` runs.
  """

  name: str
  configs: Tuple[str, ...]
  get_config: Callable[[str], ml_collections.ConfigDict]
  program: str
  tune_metric: str
  tune_grid: Tuple[Tuple[float, float], ...]

  def train_and_evaluate(self, config, path):
    module = importlib.import_module(self.program)
    return module.train_and_evaluate(config, path)

  def validate(self, config: ml_collections.ConfigDict) -> None:
    """`validation.ConfigError` naming a bad field, before any training."""
    validation.validate(config, datasets=self.configs,
                        methods=registry.METHODS)


MIXTURES = Family("mixtures", tuple(mixtures.CONFIGS), mixtures.get_config,
                  "experiments.mog", "jsd", registry.LEARNING_RATE_GRID)
IMAGES = Family("images", tuple(image_sets.CONFIGS), image_sets.get_config,
                "experiments.images", "kl", registry.IMAGE_LEARNING_RATE_GRID)
FAMILIES = (MIXTURES, IMAGES)


def family_of(datasets: Sequence[str]) -> Family:
  """The one family of `datasets`; ValueError for unknown or mixed names.

  >>> family_of(["ring", "grid"]).name, family_of(["digits"]).name
  ('mixtures', 'images')
  """
  found = []
  for name in datasets:
    family = next((f for f in FAMILIES if name in f.configs), None)
    if family is None:
      raise ValueError(
          f"Unknown config {name!r}; valid configs: "
          f"{', '.join(c for f in FAMILIES for c in f.configs)}.")
    if family not in found:
      found.append(family)
  if len(found) > 1:
    raise ValueError(
        "One comparison trains one family: mixtures "
        f"({', '.join(d for d in datasets if d in MIXTURES.configs)}) and "
        f"image sets ({', '.join(d for d in datasets if d in IMAGES.configs)})"
        " cannot share --configs; run them as two comparisons.")
  if not found:
    raise ValueError("No data sets given.")
  return found[0]


def _num_modes(dataset: str) -> int:
  """The modes a data set has: mixture components, classes or triples."""
  if dataset in IMAGES.configs:
    return 1000 if image_data.is_stacked(dataset) else 10
  return int(mog_data.make_mixture(dataset).means.shape[0])


def run_config(
    dataset: str, method: str, seed: int, overrides: Dict[str, Any],
    *, learning_rates: str = "ring", preset: str = "diwgan",
) -> ml_collections.ConfigDict:
  """The config of one run.

  The data set's defaults, then either a paper's protocol (`preset`, one of
  `experiments.configs.mixtures.PROTOCOLS` other than "diwgan": its networks,
  batch, optimizer and length, learning rates included) or the method's
  tuned learning rates (`learning_rates`: "ring", "per_set" or "config" for
  none; `experiments.registry.tuned_learning_rates`), then `overrides`.
  An image set's config takes its learning rates from
  `image_learning_rates` instead, and no preset.
  """
  if learning_rates not in LEARNING_RATE_CHOICES:
    raise ValueError(
        f"Unknown learning_rates {learning_rates!r}; valid: "
        f"{', '.join(LEARNING_RATE_CHOICES)}.")
  bad = [k for k in overrides if k.split(".")[0] in PER_RUN_FIELDS]
  if bad:
    raise ValueError(
        f"--config.{bad[0]} is set per run by --configs/--methods/--seeds.")
  if family_of([dataset]) is IMAGES:
    return _image_run_config(dataset, method, seed, overrides,
                             learning_rates=learning_rates, preset=preset)
  config = mixtures.get_config(dataset)
  config.method = method
  config.seed = seed
  if preset != "diwgan":
    mixtures.apply_protocol(config, preset)
  elif learning_rates != "config":
    picked = registry.tuned_learning_rates(
        dataset, method, per_set=learning_rates == "per_set")
    if picked is not None:
      config.optimizer.generator_lr, config.optimizer.discriminator_lr = picked
  config.update_from_flattened_dict(dict(overrides))
  return config


def image_learning_rates(
    dataset: str, method: str, learning_rates: str
) -> Optional[Tuple[float, float]]:
  """An image run's (generator lr, discriminator lr), or None (config's own).

  "per_set": the pick of the grid on that image set,
  `registry.PER_SET_LEARNING_RATES[dataset][method]`, where there is one.
  "ring" and "config" (and per_set without a pick) keep the image config's
  optimizer: the ring's picks were tuned for the mixtures' MLPs, not for
  convolutional networks.

  >>> image_learning_rates("digits", "gan", "ring") is None
  True
  """
  if learning_rates == "per_set":
    return registry.PER_SET_LEARNING_RATES.get(dataset, {}).get(method)
  return None


def _image_run_config(dataset, method, seed, overrides, *, learning_rates,
                      preset):
  """`run_config` of an image set (`image_learning_rates`, no presets)."""
  if preset != "diwgan":
    raise ValueError(
        f"--protocol={preset} is a mixture protocol; the image sets have "
        "none (leave --protocol out).")
  config = image_sets.get_config(dataset)
  config.method = method
  config.seed = seed
  picked = image_learning_rates(dataset, method, learning_rates)
  if picked is not None:
    config.optimizer.generator_lr, config.optimizer.discriminator_lr = picked
  config.update_from_flattened_dict(dict(overrides))
  return config


def run_dir(workdir: str, dataset: str, method: str, seed: int) -> str:
  return os.path.join(workdir, dataset, method, f"seed{seed}")


def _read_json(path: str) -> Optional[Any]:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def run_status(config: ml_collections.ConfigDict, path: str) -> str:
  """"done", "failed" or "todo" (never started, interrupted or extended)."""
  final = _read_json(os.path.join(path, "final_metrics.json"))
  if final is not None and final.get("step", 0) >= config.num_steps:
    return "done"
  if os.path.exists(os.path.join(path, FAILED)):
    return "failed"
  return "todo"


def _record_failure(path: str, error: Exception) -> None:
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, FAILED), "w") as f:
    json.dump({"error": str(error)}, f, indent=2)


def _select_seed(record: Dict[str, Any], index: int) -> Dict[str, Any]:
  """Run `index`'s view of a multi-seed record (its `per_seed` values)."""
  if "per_seed" not in record:
    return dict(record)  # train records: the program's steps/s and means
  out = {k: v for k, v in record.items()
         if k != "per_seed" and not k.endswith("_std")
         and k not in ("seeds", "num_seeds")}
  out.update({k: values[index] for k, values in record["per_seed"].items()})
  for name in ("seconds_to_quality", "steps_to_quality"):
    if isinstance(out.get(name), list):  # per seed in final_metrics.json
      out[name] = out[name][index]
  return out


def seed_devices(num_seeds: int) -> int:
  """The most devices (<= all of them) that split `num_seeds` seeds evenly.

  With several processes the mesh must span every device, so the seeds must
  split over all of them.
  """
  count = jax.device_count()
  if jax.process_count() > 1:
    if num_seeds % count:
      raise validation.ConfigError(
          "seeds", num_seeds,
          f"must be a multiple of the {count} devices of the "
          f"{jax.process_count()} processes to split seeds over them")
    return count
  return max(d for d in range(1, min(count, num_seeds) + 1)
             if num_seeds % d == 0)


def train_vmapped_seeds(
    configs: Sequence[ml_collections.ConfigDict], paths: Sequence[str],
    *, progress: str = "", shard_seeds: bool = False,
) -> None:
  """Trains consecutive seeds of one (data set, method) in one vmapped program.

  The program (`experiments.mog` with `num_seeds`) trains in
  `<first path's parent>/vmapped_seed<first>-<last>/` (its checkpoints make
  an interrupted group resume), then each seed's folder gets what a
  sequential run leaves: its own `final_metrics.json` and `metrics.jsonl`
  (evaluations per seed; the training lines and their steps/s are the
  program's), and the first seed the sample PNGs. A non-finite loss stops
  the whole program; the seeds are then trained one by one, so only those
  that fail alone are recorded as failed.
  """
  seeds = [c.seed for c in configs]
  if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
    raise ValueError(f"Vmapped seeds must be consecutive, got {seeds}.")
  group = os.path.join(os.path.dirname(paths[0]),
                       f"vmapped_seed{seeds[0]}-{seeds[-1]}")
  config = copy.deepcopy(configs[0])
  with config.unlocked():
    config.num_seeds = len(configs)
    if shard_seeds:
      # Whole seeds per device (docs/scaling.md), as many devices as split
      # them evenly.
      config.parallelism = "seeds"
      config.num_devices = seed_devices(len(configs))
  label = f"{progress}{config.dataset} {config.method} seeds {seeds}"
  print(f"{label}: training ({config.num_steps} steps, vmapped"
        + (f", split over {config.num_devices} devices" if shard_seeds
           else "") + f") in {group}", flush=True)
  start = time.time()
  try:
    final = family_of([config.dataset]).train_and_evaluate(config, group)
  except RUN_FAILURES as error:
    # One seed's failure stops the whole program: train each seed alone,
    # so that only the seeds that fail are recorded as failed.
    print(f"{label}: FAILED together ({error}); training each seed alone",
          flush=True)
    train_cell(configs, paths, progress=progress)
    return
  group_records = records.read_jsonl(os.path.join(group, "metrics.jsonl"))
  if jax.process_index() != 0:  # Process 0 writes the shared folders.
    return
  for index, path in enumerate(paths):
    os.makedirs(path, exist_ok=True)
    records.write_jsonl(
        os.path.join(path, "metrics.jsonl"),
        [_select_seed(r, index) for r in group_records])
    with open(os.path.join(path, "final_metrics.json"), "w") as f:
      json.dump(_select_seed(final, index), f, indent=2)
  for name in os.listdir(group):
    if name.startswith("samples_") and name.endswith(".png"):
      shutil.copy(os.path.join(group, name), os.path.join(paths[0], name))
  print(f"{label}: done in {time.time() - start:.0f}s: "
        f"{_describe(config.dataset, final['per_seed'])}", flush=True)


def _describe(dataset: str, final: Dict[str, Any]) -> str:
  """A finished run's headline metrics (lists for vmapped seeds)."""

  def show(name, scale=1.0, digits=None):
    value = final.get(name)
    if value is None:
      return "?"
    if isinstance(value, list):
      return str([round(scale * v, digits) if digits is not None else v
                  for v in value])
    return (f"{scale * value:.{digits}f}" if digits is not None
            else str(value))

  if family_of([dataset]) is IMAGES:
    return f"modes {show('modes')}, KL {show('kl', 1.0, 3)}"
  if isinstance(final.get("modes"), list):
    return f"modes {show('modes')}, HQS {show('hqs', 100.0, 1)}%"
  return (f"modes {final['modes']}, HQS {100 * final['hqs']:.1f}%, "
          f"JSD {final['jsd']:.3f}")


def train_cell(
    configs: Sequence[ml_collections.ConfigDict], paths: Sequence[str],
    *, progress: str = "", vmap_seeds: bool = False,
    shard_seeds: bool = False,
) -> None:
  """Trains the given seeds of one (data set, method), each into its path.

  One after the other by default; with `vmap_seeds`, runs of consecutive
  seeds together (`train_vmapped_seeds`). Either way each path ends with
  what its family's `train_and_evaluate` leaves (`final_metrics.json`,
  `metrics.jsonl`, `samples_<step>.png`), or `failed.json` with an "error".
  """
  if vmap_seeds and len(configs) > 1:
    groups, start = [], 0
    for i in range(1, len(configs) + 1):
      if i == len(configs) or configs[i].seed != configs[i - 1].seed + 1:
        groups.append((start, i))
        start = i
    for lo, hi in groups:
      if hi - lo > 1:
        train_vmapped_seeds(configs[lo:hi], paths[lo:hi], progress=progress,
                            shard_seeds=shard_seeds)
      else:
        train_cell(configs[lo:hi], paths[lo:hi], progress=progress)
    return
  for config, path in zip(configs, paths):
    start = time.time()
    label = f"{progress}{config.dataset} {config.method} seed {config.seed}"
    print(f"{label}: training ({config.num_steps} steps) in {path}",
          flush=True)
    try:
      final = family_of([config.dataset]).train_and_evaluate(config, path)
    except RUN_FAILURES as error:
      _record_failure(path, error)
      print(f"{label}: FAILED: {error}", flush=True)
      continue
    print(f"{label}: done in {time.time() - start:.0f}s: "
          f"{_describe(config.dataset, final)}", flush=True)


def _chunk_seconds(train_records: List[dict]) -> List[float]:
  """Seconds of each logged chunk, the first (compilation) replaced.

  The first chunk of a session includes jit compilation; it is replaced by
  the median per-step time of the others, so that times are training only.
  """
  lengths = np.diff([0] + [r["step"] for r in train_records])
  seconds = [float(n / r["steps_per_sec"])
             for n, r in zip(lengths, train_records)]
  if len(seconds) > 1:
    per_step = np.median(np.asarray(seconds[1:]) / lengths[1:])
    seconds[0] = float(per_step * lengths[0])
  return seconds


def collect_run(
    config: ml_collections.ConfigDict, workdir: str, path: str
) -> Dict[str, Any]:
  """One run's record for results.json, read from its folder."""
  record = {
      "dataset": config.dataset, "method": config.method,
      "seed": config.seed, "path": os.path.relpath(path, workdir),
      "num_steps": config.num_steps, "batch_size": config.batch_size,
      "generator_lr": config.optimizer.generator_lr,
      "discriminator_lr": config.optimizer.discriminator_lr,
  }
  status = run_status(config, path)
  if status == "failed":
    record.update(status="failed",
                  error=_read_json(os.path.join(path, FAILED))["error"])
    return record
  if status != "done":
    record["status"] = "missing"
    return record
  final = _read_json(os.path.join(path, "final_metrics.json"))
  run_records = records.read_jsonl(os.path.join(path, "metrics.jsonl"))
  train = [r for r in run_records if r["kind"] == "train"]
  seconds = _chunk_seconds(train)
  elapsed = dict(zip([r["step"] for r in train], np.cumsum(seconds)))
  elapsed[0] = 0.0
  if family_of([config.dataset]) is IMAGES:
    return _image_record(record, final, run_records, train, seconds, elapsed,
                         workdir, path)
  curve = [
      {"step": r["step"], "seconds": float(elapsed.get(r["step"], math.nan)),
       **{k: r[k] for k in METRICS}}
      for r in run_records if r["kind"] == "eval"]
  total = float(sum(seconds))
  record.update(
      status="done",
      **{k: final[k] for k in METRICS},
      train_seconds=total,
      seconds_per_step=total / max(train[-1]["step"], 1) if train else None,
      # From the run's start (auto-encoder and compilation included) to its
      # first evaluation with every mode and HQS >= 80%; None if never.
      seconds_to_quality=final.get("seconds_to_quality"),
      steps_to_quality=final.get("steps_to_quality"),
      curve=curve,
      samples=os.path.relpath(
          os.path.join(path, f"samples_{final['step']:06d}.png"), workdir),
  )
  if "reverse_kl" in final:
    record["reverse_kl"] = final["reverse_kl"]
  if config.get("protocol", "diwgan") != "diwgan":
    record["protocol"] = config.protocol
  return record


def _image_record(record, final, run_records, train, seconds, elapsed,
                  workdir, path):
  """`collect_run`'s record of a finished image run.

  Its final metrics are every metric of its last evaluation (`modes`, `kl`,
  `classifier_accuracy`; the pixel statistics of a set without a
  classifier); the curve holds them at every evaluation.
  """
  evals = [r for r in run_records if r["kind"] == "eval"]
  names = [k for k in (evals[-1] if evals else {}) if k not in _NOT_METRICS]
  curve = [
      {"step": r["step"], "seconds": float(elapsed.get(r["step"], math.nan)),
       **{k: r[k] for k in names if k in r}}
      for r in evals]
  total = float(sum(seconds))
  record.update(
      status="done",
      **{k: final[k] for k in names if k in final},
      train_seconds=total,
      seconds_per_step=total / max(train[-1]["step"], 1) if train else None,
      curve=curve,
      samples=os.path.relpath(
          os.path.join(path, f"samples_{final['step']:06d}.png"), workdir),
  )
  return record


def _cells(datasets, method_names, seeds, workdir, overrides, *,
           learning_rates, equal_time, retry_failed=False,
           preset="diwgan"):
  """{(data set, method, seed): (config, folder, status)}.

  Every run's config is built and validated first, so that a bad override
  or cell fails here, before any training (experiments.validation). Image
  runs without a classifier folder of their own share
  `<workdir>/classifier`, trained once.
  """
  family = family_of(datasets)
  if family is IMAGES and equal_time is not None:
    raise ValueError(
        "Equal training time uses the step costs benchmarks.method_steps "
        "measures on the mixtures; it does not apply to the image sets.")
  for name in method_names:
    if name not in registry.METHODS:
      raise ValueError(
          f"Unknown method {name!r}; valid methods: "
          f"{', '.join(registry.METHODS)}.")
  cells = {}
  for dataset in datasets:
    for method in method_names:
      cell_overrides = dict(overrides)
      if equal_time is not None:
        cell_overrides["num_steps"] = equal_time["num_steps"][dataset][method]
      for seed in seeds:
        config = run_config(dataset, method, seed, cell_overrides,
                            learning_rates=learning_rates,
                            preset=preset)
        if family is IMAGES and not config.eval.classifier.dir:
          config.eval.classifier.dir = os.path.join(workdir, "classifier")
        family.validate(config)
        path = run_dir(workdir, dataset, method, seed)
        if retry_failed and os.path.exists(os.path.join(path, FAILED)):
          os.remove(os.path.join(path, FAILED))
        cells[(dataset, method, seed)] = (config, path,
                                          run_status(config, path))
  return cells


def plan_comparison(
    datasets: Sequence[str],
    method_names: Sequence[str],
    seeds: Sequence[int],
    workdir: str,
    overrides: Optional[Dict[str, Any]] = None,
    *,
    step_costs: Dict[str, Any],
    learning_rates: str = "ring",
    equal_time: Optional[Dict[str, Any]] = None,
    preset: str = "diwgan",
) -> str:
  """The runs a comparison has left to train and their training time.

  Each run left to train (never started, interrupted or extended; failed
  runs are not retried) costs its steps x its method's ms per step from
  `step_costs` (`load_step_costs`): training only, one run at a time;
  set-up, compilation and evaluation come on top. Trains nothing.
  """
  if family_of(datasets) is IMAGES:
    raise ValueError(
        "--plan prices runs at the step costs benchmarks.method_steps "
        "measures on the mixtures; it does not apply to the image sets.")
  costs = step_costs["ms_per_step"]
  check_step_costs(costs, method_names)
  cells = _cells(datasets, method_names, seeds, workdir, dict(overrides or {}),
                 learning_rates=learning_rates,
                 equal_time=equal_time, preset=preset)
  measured = step_costs["measured_on"]
  lines = [
      f"Runs left to train in {workdir}, at the step costs measured on "
      f"{measured.get('config')} (batch {measured.get('batch_size')}, "
      f"{measured.get('date')}); training only, one run at a time:",
      "",
      "| data set | method | runs left | steps each | hours |",
      "| --- | --- | --- | --- | --- |",
  ]
  total_runs, total_hours = 0, 0.0
  for dataset in datasets:
    for method in method_names:
      left = [cells[(dataset, method, s)][0] for s in seeds
              if cells[(dataset, method, s)][2] == "todo"]
      if not left:
        continue
      hours = sum(c.num_steps for c in left) * costs[method] / 3.6e6
      steps = sorted({c.num_steps for c in left})
      lines.append(f"| {dataset} | {method} | {len(left)} | "
                   f"{', '.join(map(str, steps))} | {hours:.2f} |")
      total_runs += len(left)
      total_hours += hours
  lines.append(f"| all | | {total_runs} | | {total_hours:.2f} |")
  return "\n".join(lines) + "\n"


def run_comparison(
    datasets: Sequence[str],
    method_names: Sequence[str],
    seeds: Sequence[int],
    workdir: str,
    overrides: Optional[Dict[str, Any]] = None,
    *,
    retry_failed: bool = False,
    learning_rates: str = "ring",
    vmap_seeds: bool = False,
    shard_seeds: bool = False,
    equal_time: Optional[Dict[str, Any]] = None,
    collect_only: bool = False,
    preset: str = "diwgan",
) -> Dict[str, Any]:
  """Trains what is not finished, then writes results.json and the report.

  `collect_only` trains nothing: the report holds the runs finished so far
  (e.g. by another process still filling the table), the others as missing.

  `equal_time` (from `equal_time_protocol`) gives each (data set, method)
  its own number of steps, so that every method trains for the seconds of
  the reference method's run; it is recorded in results.json's protocol.

  `vmap_seeds` trains the pending seeds of each (data set, method) in one
  vmapped program (`train_vmapped_seeds`) instead of one after the other;
  `shard_seeds` also splits those seeds over the devices (each device
  trains whole seeds), so N devices fill the table N times faster. `preset`
  trains every run in a paper's protocol (`run_config`). Under
  `jax.distributed` every process runs this same call on a shared
  `workdir`; process 0 writes the harness's files.
  """
  overrides = dict(overrides or {})
  os.makedirs(workdir, exist_ok=True)
  jobs = [(d, m) for d in datasets for m in method_names]
  total = len(jobs) * len(seeds)
  cells = _cells(datasets, method_names, seeds, workdir, overrides,
                 learning_rates=learning_rates,
                 equal_time=equal_time, retry_failed=retry_failed,
                 preset=preset)
  if shard_seeds:
    seed_devices(len(seeds))  # Placeable? A one-line error before training.
  todo = sum(status == "todo" for _, _, status in cells.values())
  print(f"{total} runs, {0 if collect_only else todo} to train, "
        f"{total - todo} done or failed before; writing to {workdir}",
        flush=True)
  session_start, trained = time.time(), 0
  runs = []
  for job_index, (dataset, method) in enumerate(jobs):
    configs, paths, pending = [], [], []
    for seed_index, seed in enumerate(seeds):
      number = job_index * len(seeds) + seed_index + 1
      config, path, status = cells[(dataset, method, seed)]
      configs.append(config)
      paths.append(path)
      if status == "todo" and not collect_only:
        pending.append(seed_index)
      elif status == "todo":
        print(f"[{number}/{total}] {dataset} {method} seed {seed}: not "
              "finished, left out", flush=True)
      else:
        print(f"[{number}/{total}] {dataset} {method} seed {seed}: "
              f"{status}, skipped", flush=True)
    if pending:
      first = job_index * len(seeds) + pending[0] + 1
      last = job_index * len(seeds) + pending[-1] + 1
      eta = ("?" if not trained else loop.format_seconds(
          (todo - trained) * (time.time() - session_start) / trained))
      train_cell([configs[i] for i in pending], [paths[i] for i in pending],
                  progress=f"[{first}-{last}/{total}, {trained}/{todo} of "
                  f"this session done, ETA {eta}] ",
                  vmap_seeds=vmap_seeds or shard_seeds,
                  shard_seeds=shard_seeds)
      trained += len(pending)
    runs.extend(collect_run(c, workdir, p) for c, p in zip(configs, paths))
    # Written after every pair, so an interrupted comparison leaves its
    # finished runs on record.
    if jax.process_index() == 0:
      with open(os.path.join(workdir, RESULTS), "w") as f:
        json.dump(_results(datasets, method_names, seeds, overrides, runs,
                           equal_time, preset, learning_rates), f, indent=2)
  results = _results(datasets, method_names, seeds, overrides, runs,
                     equal_time, preset, learning_rates)
  if jax.process_index() == 0:
    report.write_report(results, workdir)
  return results


def _results(datasets, method_names, seeds, overrides, runs, equal_time=None,
             preset="diwgan", learning_rates="ring"):
  """results.json's content, exactly as it reads back (tuples as lists)."""
  protocol = {
      "configs": list(datasets), "methods": list(method_names),
      "seeds": list(seeds), "overrides": overrides,
      "num_modes": {d: _num_modes(d) for d in datasets},
  }
  if family_of(datasets) is IMAGES:
    # The family (the report's layout) and where the learning rates came
    # from (`image_learning_rates`), always: "ring" keeps the config's own.
    protocol["family"] = IMAGES.name
    protocol["learning_rates"] = learning_rates
    return json.loads(json.dumps({"protocol": protocol, "runs": list(runs)}))
  if equal_time is not None:
    protocol["equal_time"] = equal_time
  if preset != "diwgan":
    # The paper's protocol every run trained in (docs/baselines.md,
    # "Protocol presets"); its settings are in each run's config.
    protocol["preset"] = preset
  elif learning_rates != "ring":
    # Where the runs' learning rates came from (`run_config`); each run's
    # record holds its own pair.
    protocol["learning_rates"] = learning_rates
  return json.loads(json.dumps({"protocol": protocol, "runs": list(runs)}))


# --- Equal training time -----------------------------------------------------


def load_step_costs(path: str) -> Dict[str, Any]:
  """The per-method step costs measured by `python -m benchmarks.method_steps`.

  Returns {"ms_per_step": {method: median wall-clock ms per step},
  "measured_on": {"config", "batch_size", "date", "load_average_start",
  ...}} from the benchmark's JSON output.
  """
  record = _read_json(path)
  if record is None:
    raise FileNotFoundError(
        f"No step costs at {path}: run `python -m benchmarks.method_steps "
        f"--output={path}` first.")
  try:
    costs = {name: float(entry["ms_per_step_wall"])
             for name, entry in record["methods"].items()}
  except (KeyError, TypeError, AttributeError) as error:
    raise ValueError(
        f"{path} is not an output of benchmarks.method_steps (no "
        f"methods.<name>.ms_per_step_wall): {error!r}") from error
  platform = record.get("platform", {})
  return {"ms_per_step": costs, "measured_on": {
      "config": record.get("config"), "batch_size": record.get("batch_size"),
      **{k: platform.get(k) for k in ("date", "machine", "cpu_count", "jax",
                                      "backend", "load_average_start")}}}


def check_step_costs(ms_per_step: Dict[str, float],
                     method_names: Sequence[str]) -> None:
  """ValueError unless every method has a positive, finite ms per step."""
  missing = [m for m in method_names if m not in ms_per_step]
  if missing:
    raise ValueError(
        f"No step cost for {', '.join(sorted(set(missing)))}; measured: "
        f"{', '.join(sorted(ms_per_step))}. Re-run benchmarks.method_steps "
        "with those methods.")
  bad = [m for m in method_names
         if not (math.isfinite(ms_per_step[m]) and ms_per_step[m] > 0)]
  if bad:
    raise ValueError(f"Step cost of {bad[0]} is {ms_per_step[bad[0]]!r} ms; "
                     "it must be a positive number.")


def equal_time_steps(
    ms_per_step: Dict[str, float], reference: str, reference_steps: int,
    method_names: Sequence[str], *, round_to: int = 100,
) -> Dict[str, int]:
  """Each method's steps for the training seconds of `reference`'s run.

  The budget is `reference_steps` x the reference's ms per step; a method
  gets budget / its own ms per step, rounded to the nearest `round_to`
  (at least `round_to`). The reference keeps `reference_steps`.

  >>> equal_time_steps({"diwgan": 17.0, "gan": 6.0, "slow": 40.0}, "diwgan",
  ...                  10_000, ["gan", "slow", "diwgan"])
  {'gan': 28300, 'slow': 4200, 'diwgan': 10000}
  """
  check_step_costs(ms_per_step, (reference, *method_names))
  budget_ms = reference_steps * ms_per_step[reference]
  steps = {}
  for method in method_names:
    if method == reference:
      steps[method] = int(reference_steps)
    else:
      steps[method] = max(round_to, int(round(
          budget_ms / ms_per_step[method] / round_to)) * round_to)
  return steps


def equal_time_protocol(
    datasets: Sequence[str], method_names: Sequence[str], reference: str,
    step_costs: Dict[str, Any], overrides: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
  """The `equal_time` argument of `run_comparison`, as results.json keeps it.

  The reference's steps on each data set are its default length (or the
  `num_steps` override); `step_costs` comes from `load_step_costs`.
  """
  overrides = dict(overrides or {})
  costs = step_costs["ms_per_step"]
  num_steps, budget = {}, {}
  for dataset in datasets:
    steps = int(overrides.get("num_steps",
                              mixtures.get_config(dataset).num_steps))
    num_steps[dataset] = equal_time_steps(costs, reference, steps,
                                          method_names)
    budget[dataset] = steps * costs[reference] / 1000.0
  return {
      "reference": reference,
      "budget_seconds": budget,
      "num_steps": num_steps,
      "ms_per_step": {m: costs[m] for m in method_names},
      "measured_on": step_costs["measured_on"],
  }


def load_results(workdir: str) -> Dict[str, Any]:
  path = os.path.join(workdir, RESULTS)
  results = _read_json(path)
  if results is None:
    raise FileNotFoundError(
        f"No {RESULTS} in {workdir}: run the comparison first.")
  return results


# --- Learning-rate tuning ---------------------------------------------------


def grid_dir(workdir: str, generator_lr: float, discriminator_lr: float) -> str:
  return os.path.join(
      workdir, registry.grid_point_name(generator_lr, discriminator_lr))


def tune_learning_rates(
    datasets: Sequence[str],
    method_names: Sequence[str],
    seeds: Sequence[int],
    workdir: str,
    overrides: Optional[Dict[str, Any]] = None,
    *,
    grid: Optional[Sequence[Tuple[float, float]]] = None,
) -> Dict[str, Tuple[float, float]]:
  """Runs every method at every (G lr, D lr) of `grid`; returns the best.

  `grid` defaults to the family's (`Family.tune_grid`: the mixtures'
  `registry.LEARNING_RATE_GRID`, the image sets'
  `registry.IMAGE_LEARNING_RATE_GRID`).

  Each grid point is a comparison of its own in `<workdir>/g<lr>_d<lr>/`
  (resumable like any). A method's best point has the lowest JSD, averaged
  over data sets and seeds: the one metric that needs both the modes and
  the high-quality samples (counting modes first picked a blob that touches
  every mode with 0.9% HQS for `unrolled` on the ring). Writes `tuning.md`.

  On the image sets the best point has the lowest KL to uniform over the
  classes (or triples), which a collapsed generator and one that covers
  the modes unevenly both raise; every grid point's runs share
  `<workdir>/classifier`.
  """
  overrides = dict(overrides or {})
  family = family_of(datasets)
  images_grid = family is IMAGES
  grid = family.tune_grid if grid is None else tuple(grid)
  keys = ((family.tune_metric, "modes")
          + (() if images_grid else ("hqs",)))
  scores = {}
  for generator_lr, discriminator_lr in grid:
    point = dict(overrides)
    point["optimizer.generator_lr"] = generator_lr
    point["optimizer.discriminator_lr"] = discriminator_lr
    if images_grid:
      point.setdefault("eval.classifier.dir",
                       os.path.join(workdir, "classifier"))
    results = run_comparison(
        datasets, method_names, seeds,
        grid_dir(workdir, generator_lr, discriminator_lr), point,
        learning_rates="config")
    for method in method_names:
      done = [r for r in results["runs"]
              if r["method"] == method and r["status"] == "done"]
      if done:
        scores[method, (generator_lr, discriminator_lr)] = tuple(
            float(np.mean([r[k] for r in done])) for k in keys)
  best = {}
  lines = [
      "# Learning-rate grid: " + ("KL / modes" if images_grid
                                  else "JSD / modes / HQS %")
      + " (mean over data sets and seeds)",
      "",
      f"Data sets {list(datasets)}, seeds {list(seeds)}, overrides "
      f"{overrides or 'none'}; best = lowest "
      + ("KL to uniform" if images_grid else "JSD") + ".",
      "",
      "| method | " + " | ".join(
          registry.rate_pair_label(g, d) for g, d in grid) + " | best |",
      "| --- | " + " | ".join("---" for _ in grid) + " | --- |",
  ]
  for method in method_names:
    points = {p: scores[method, p] for p in grid if (method, p) in scores}
    if points:
      best[method] = min(points, key=lambda p: points[p][0])
    cells = [("-" if p not in points else
              f"{points[p][0]:.3f} / {points[p][1]:.1f}" if images_grid else
              f"{points[p][0]:.3f} / {points[p][1]:.1f} / "
              f"{100 * points[p][2]:.1f}") for p in grid]
    lines.append(f"| {method} | " + " | ".join(cells) + " | " + (
        registry.rate_pair_label(*best[method])
        if method in best else "-") + " |")
  with open(os.path.join(workdir, "tuning.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  return best


# --- Command line ------------------------------------------------------------
# --config carries --config.<field>=<value> overrides applied to every run.

_CONFIGS = flags.DEFINE_list(
    "configs", list(mixtures.CONFIGS), "Data sets: mixture configs ("
    + ", ".join(mixtures.CONFIGS) + ") or image sets ("
    + ", ".join(image_sets.CONFIGS) + "; docs/images.md), one family per "
    "comparison.")
_METHODS = flags.DEFINE_list(
    "methods", ["gan", "unrolled", "veegan", "pacgan", "gne", "bms_vae_gan",
                "diwgan"],
    "Methods: " + ", ".join(registry.METHODS))
_ONLY_REPORT = flags.DEFINE_bool(
    "only_report", False, f"Rebuild the report from <workdir>/{RESULTS}.")
_TUNE = flags.DEFINE_bool(
    "tune", False, "Run the learning-rate grid (experiments.registry."
    "LEARNING_RATE_GRID; IMAGE_LEARNING_RATE_GRID on the image sets) for "
    "every method into <workdir>/g<lr>_d<lr>/ and write <workdir>/tuning.md "
    "with each method's best pair.")
_COLLECT_ONLY = flags.DEFINE_bool(
    "collect_only", False, "Train nothing: write results.json and the report "
    "from the runs finished so far (unfinished ones count as missing).")
_PLAN = flags.DEFINE_bool(
    "plan", False, "Train nothing: print the runs left to train and their "
    "training hours at the step costs of --step_costs.")
_RETRY_FAILED = flags.DEFINE_bool(
    "retry_failed", False, "Train runs recorded as failed again.")
_LEARNING_RATES = flags.DEFINE_enum(
    "learning_rates", "ring", list(LEARNING_RATE_CHOICES), "Start each "
    "method from its learning rates tuned on the ring (experiments.registry."
    "LEARNING_RATES), on each data set (per_set: experiments.registry."
    "PER_SET_LEARNING_RATES, the ring's where a set has none) or from "
    "config.optimizer (config); --config.optimizer.* overrides still apply "
    "on top. Image sets: per_set takes the set's own picks where it has "
    "them; everything else keeps the image config's optimizer.")
_TUNED_LEARNING_RATES = flags.DEFINE_bool(
    "tuned_learning_rates", True, "False: the same as --learning_rates="
    "config.")
_VMAP_SEEDS = flags.DEFINE_bool(
    "vmap_seeds", False, "Train the seeds of each (data set, method) in one "
    "vmapped program (docs/scaling.md) instead of one after the other; each "
    "seed still gets its own folder and result.")
_SHARD_SEEDS = flags.DEFINE_bool(
    "shard_seeds", False, "Split the seeds of each (data set, method) over "
    "the devices (implies --vmap_seeds): each device trains whole seeds, so "
    "N devices (or the processes of a jax.distributed run) fill the table N "
    "times faster (docs/scaling.md).")
_PROTOCOL = flags.DEFINE_enum(
    "protocol", "diwgan", list(mixtures.PROTOCOLS),
    "Train every run in this paper's protocol (networks, noise, batch, "
    "optimizer, length; docs/baselines.md, 'Protocol presets'); 'diwgan' is "
    "the project's own, with the tuned learning rates.")
_EQUAL_TIME_TO = flags.DEFINE_string(
    "equal_time_to", None, "Train every method for the training seconds of "
    "this method's run instead of for the same steps: a method's steps are "
    "the reference's steps (the data set's default, or --config.num_steps) "
    "x the reference's ms per step / its own, from --step_costs.")
_STEP_COSTS = flags.DEFINE_string(
    "step_costs", os.path.join("benchmarks", "results", "method_steps.json"),
    "Per-method step costs for --equal_time_to: the JSON written by "
    "`python -m benchmarks.method_steps`.")
_COMPILATION_CACHE = flags.DEFINE_bool(
    "compilation_cache", True, "Keep compiled programs in <workdir>/"
    "jax_cache (a subfolder per CPU kind), so that the seeds of one (data "
    "set, method) and reruns compile once (experiments.compilation_cache).")
DEFAULT_WORKDIR = os.path.join("runs", "compare")
DEFAULT_SEEDS = 10


def _has_field(config: ml_collections.ConfigDict, dotted: str) -> bool:
  """Whether `config` has the field `a.b.c`."""
  for part in dotted.split("."):
    if not isinstance(config, ml_collections.ConfigDict) or part not in config:
      return False
    config = config[part]
  return True


def _carrier_config(name: str) -> ml_collections.ConfigDict:
  """--config's carrier: a mixture config or an image set's config."""
  if name in image_sets.CONFIGS:
    return image_sets.get_config(name)
  return mixtures.get_config(name)


flags_util.define_named_config(
    "config", _carrier_config, default="ring",
    help_string="Carrier of --config.<field>=<value> overrides applied to "
    "every run (the data sets come from --configs); name an image set "
    "(--config=digits) to override fields only the image configs have.")
flags.DEFINE_string("workdir", None,
                    f"Output folder (default {DEFAULT_WORKDIR}).")
flags.DEFINE_integer(
    "seeds", None, f"Number of seeds, seeds 0 to N - 1 (default "
    f"{DEFAULT_SEEDS}).", lower_bound=1)
# Every process of a jax.distributed run runs the same command on a shared
# --workdir; with --shard_seeds the seeds are split over all their devices.
_initialize_distributed = cli.define_distributed_flags()


def main(argv):
  """Runs `_main`; a usage or config error ends in one line, exit status 2."""
  try:
    _main(argv)
  except (app.UsageError, *cli.USER_ERRORS) as error:
    cli.exit_with_one_line(error)


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _initialize_distributed()
  workdir = flags.FLAGS.workdir or DEFAULT_WORKDIR
  if _ONLY_REPORT.value:
    try:
      results = load_results(workdir)
    except FileNotFoundError as error:
      raise app.UsageError(str(error)) from error
    print(report.write_report(results, workdir))
    return
  num_seeds = (DEFAULT_SEEDS if flags.FLAGS.seeds is None
               else flags.FLAGS.seeds)
  learning_rates = (_LEARNING_RATES.value if _TUNED_LEARNING_RATES.value
                    else "config")
  if _COMPILATION_CACHE.value:
    compilation_cache.enable(os.path.join(workdir, "jax_cache"))
  overrides = config_flags.get_override_values(flags.FLAGS["config"])
  try:
    family = family_of(_CONFIGS.value)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  unknown = [k for k in overrides
             if not _has_field(family.get_config(_CONFIGS.value[0]), k)]
  if unknown:
    raise app.UsageError(
        f"--config.{unknown[0]}: the {_CONFIGS.value[0]} config has no "
        "such field (the carrier --config must name a config of the same "
        f"family as --configs, e.g. --config={_CONFIGS.value[0]}).")
  if family is IMAGES:
    for flag, name in ((_EQUAL_TIME_TO.value, "--equal_time_to"),
                       (_PLAN.value, "--plan"),
                       (_PROTOCOL.value != "diwgan", "--protocol")):
      if flag:
        raise app.UsageError(
            f"{name} applies to the mixtures only (the step costs and the "
            "papers' protocols are theirs); leave it out for the image "
            "sets.")
  for name in _METHODS.value:
    if name not in registry.METHODS:
      raise app.UsageError(
          f"Unknown method {name!r}; valid methods: "
          f"{', '.join(registry.METHODS)}.")
  bad = [k for k in overrides if k.split(".")[0] in PER_RUN_FIELDS]
  if bad:
    raise app.UsageError(
        f"--config.{bad[0]} is set per run by --configs/--methods/--seeds.")
  if _TUNE.value:
    best = tune_learning_rates(_CONFIGS.value, _METHODS.value,
                               list(range(num_seeds)), workdir, overrides)
    with open(os.path.join(workdir, "tuning.md")) as f:
      print(f.read())
    print("Best (G lr, D lr):", best)
    return
  equal_time, step_costs = None, None
  if _PROTOCOL.value != "diwgan" and (_EQUAL_TIME_TO.value or _PLAN.value):
    raise app.UsageError(
        "--equal_time_to and --plan use the step costs that "
        "benchmarks.method_steps measures in the project's own protocol; "
        f"they do not apply to --protocol={_PROTOCOL.value}.")
  if _EQUAL_TIME_TO.value or _PLAN.value:
    try:
      step_costs = load_step_costs(_STEP_COSTS.value)
    except (FileNotFoundError, ValueError) as error:
      raise app.UsageError(f"--step_costs={_STEP_COSTS.value}: {error}"
                           ) from error
  if _EQUAL_TIME_TO.value:
    if _EQUAL_TIME_TO.value not in registry.METHODS:
      raise app.UsageError(
          f"Unknown method {_EQUAL_TIME_TO.value!r} in --equal_time_to; "
          f"valid methods: {', '.join(registry.METHODS)}.")
    try:
      equal_time = equal_time_protocol(
          _CONFIGS.value, _METHODS.value, _EQUAL_TIME_TO.value, step_costs,
          overrides)
    except ValueError as error:
      raise app.UsageError(f"--step_costs={_STEP_COSTS.value}: {error}"
                           ) from error
  if _PLAN.value:
    # Only the step costs are --step_costs' fault; a bad config cell keeps
    # its own one-line error (cli.USER_ERRORS).
    try:
      check_step_costs(step_costs["ms_per_step"], _METHODS.value)
    except ValueError as error:
      raise app.UsageError(f"--step_costs={_STEP_COSTS.value}: {error}"
                           ) from error
    print(plan_comparison(
        _CONFIGS.value, _METHODS.value, list(range(num_seeds)), workdir,
        overrides, step_costs=step_costs,
        learning_rates=learning_rates,
        equal_time=equal_time, preset=_PROTOCOL.value))
    return
  results = run_comparison(
      _CONFIGS.value, _METHODS.value, list(range(num_seeds)), workdir,
      overrides, retry_failed=_RETRY_FAILED.value,
      learning_rates=learning_rates,
      vmap_seeds=_VMAP_SEEDS.value, shard_seeds=_SHARD_SEEDS.value,
      equal_time=equal_time, collect_only=_COLLECT_ONLY.value,
      preset=_PROTOCOL.value)
  if jax.process_index() == 0:
    logging.info("Wrote %s", ", ".join(
        os.path.join(workdir, n)
        for n in (RESULTS, report.TABLE, report.SAMPLES, report.CURVES)))
    print(report.format_table(results))


if __name__ == "__main__":
  app.run(main)
