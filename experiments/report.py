"""The comparison's report: statistics, tables and figures from results.json.

`experiments.compare` trains the runs and writes `results.json` (its protocol
and each run's record); everything here reads that dict alone, so a report is
rebuilt from a committed results.json without training (`--only_report`,
`benchmarks.summary`). `mean_std` is the "mean (sample std)" over seeds of
every table; `format_table` is Table 1's layout (rows data set x metric,
columns methods), each seed's time to quality and the failed runs;
`reproduction_table` sets the runs beside the published rows of their
protocol's paper (`experiments.published`); `table_markdown` is table.md (the
two tables); `plot_sample_grid` and `plot_comparison_curves` draw samples.png
and curves.png; `write_report` writes all three. A comparison of the image
sets (results.json's `protocol.family` is "images") gets its own layout
from the same pieces: `format_image_table` (one table per image set: modes,
KL, ms per step and the ratio to the GAN's, "mean (std)" by `mean_std`),
with the published stacked-MNIST rows beside the stacked sets
(`stacked_mnist_block`), one sample grid per method side by side, and
modes and KL against steps and seconds. This module imports neither the
harness nor the training loop.
"""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib.image
from matplotlib.figure import Figure
import numpy as np

from experiments.configs import mixtures
from experiments import published as published_rows
from experiments import records

TABLE = "table.md"
SAMPLES = "samples.png"
CURVES = "curves.png"


def mean_std(values) -> Tuple[float, float]:
  """Mean and sample standard deviation (ddof=1; 0 for one value) over seeds.

  The "mean (std)" of every table over seeds in this project.

  >>> mean_std([1.0, 2.0, 3.0])
  (2.0, 1.0)
  >>> mean_std([4.0])
  (4.0, 0.0)
  """
  values = np.asarray(values, np.float64)
  if values.size == 0:
    raise ValueError("mean_std of no values")
  std = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
  return float(np.mean(values)), std


def _cell(values: List[float], scale: float, digits: int) -> str:
  """The "mean (std)" cell of `scale` x `values` (`mean_std`); "-" if none."""
  if len(values) == 0:
    return "-"
  mean, std = mean_std(scale * np.asarray(values, np.float64))
  return f"{mean:.{digits}f} ({std:.{digits}f})"


def _runs_of(results, dataset, method):
  return [r for r in results["runs"]
          if r["dataset"] == dataset and r["method"] == method]


def _is_images(results: Dict[str, Any]) -> bool:
  return results["protocol"].get("family") == "images"


def _metric_cells(results, dataset, method_names, key, scale, digits,
                  num_seeds, *, mark_failed) -> List[str]:
  """One table row's "mean (std)" cells, one per method.

  `[n/N]` marks a cell with only n of N seeds finished; with `mark_failed`,
  `k failed` counts the seeds that failed (not averaged).
  """
  cells = []
  for method in method_names:
    runs = _runs_of(results, dataset, method)
    finished = [r for r in runs if r["status"] == "done"]
    cell = _cell([r[key] for r in finished if key in r], scale, digits)
    failed = sum(r["status"] == "failed" for r in runs)
    if finished and len(finished) + failed < num_seeds:
      cell += f" [{len(finished)}/{num_seeds}]"
    if failed and mark_failed:
      cell += f" {failed} failed"
    cells.append(cell)
  return cells


def _finished_runs(results: Dict[str, Any]):
  """The finished runs, with their distinct step counts and batches sorted."""
  done = [r for r in results["runs"] if r["status"] == "done"]
  return (done, sorted({r["num_steps"] for r in done}),
          sorted({r["batch_size"] for r in done}))


def format_table(results: Dict[str, Any]) -> str:
  """The markdown table of Table 1's layout, from results.json alone.

  An image comparison's results get `format_image_table`.
  """
  if _is_images(results):
    return format_image_table(results)
  protocol = results["protocol"]
  method_names = protocol["methods"]
  num_seeds = len(protocol["seeds"])
  _, steps, batches = _finished_runs(results)
  equal_time = protocol.get("equal_time")
  lines = [
      "# Mixtures of Gaussians" + (" at equal training time" if equal_time
                                   else "") + ": mean (std) over seeds",
      "",
  ]
  if equal_time:
    measured = equal_time["measured_on"]
    load = measured.get("load_average_start")
    load = ("?" if load is None else " / ".join(f"{x:.2f}" for x in load))
    lines += [
        f"Every method trains for the seconds of {equal_time['reference']}'s "
        "run (" + ", ".join(
            f"{d}: {equal_time['budget_seconds'][d]:.0f} s"
            for d in protocol["configs"]) + "): its steps are that budget "
        "over its own ms per step, measured by `benchmarks.method_steps` "
        f"on {measured.get('config')} (batch {measured.get('batch_size')}, "
        f"{measured.get('date')}, load average {load}): " + ", ".join(
            f"{m} {equal_time['ms_per_step'][m]:.2f}" for m in method_names)
        + " ms.",
        "",
    ]
  if protocol.get("preset"):
    lines += [f"Every run in the {protocol['preset']} protocol "
              "(docs/baselines.md, \"Protocol presets\").", ""]
  elif protocol.get("learning_rates") == "per_set":
    lines += ["Each method at the learning rates tuned on each data set "
              "(docs/baselines.md, \"Tuning protocol\"; the ring's where a "
              "set has none).", ""]
  elif protocol.get("learning_rates") == "config":
    lines += ["Every method at the config's learning rates (no tuned "
              "rates).", ""]
  lines += [
      f"Seeds {protocol['seeds']}; steps {steps}; batch {batches}; "
      f"overrides {protocol['overrides'] or 'none'}. "
      "std is the sample std over seeds (ddof=1). Step times exclude jit "
      "compilation and evaluation; they are wall-clock on the machine that "
      "ran each seed and comparable only within one table. "
      "`[n/N]`: only n of N seeds finished; `k failed`: k seeds stopped on "
      "a non-finite loss (or an auto-encoder gate), not averaged.",
      "",
      "| data set | metric | " + " | ".join(method_names) + " |",
      "| --- | --- | " + " | ".join("---" for _ in method_names) + " |",
  ]
  rows = (("modes", "modes (max {k})", 1.0, 1),
          ("strict_modes", "strict modes", 1.0, 1),
          ("hqs", "HQS (%)", 100.0, 1),
          ("jsd", "JSD", 1.0, 3),
          ("seconds_per_step", "ms / step", 1000.0, 2))
  for dataset in protocol["configs"]:
    num_modes = protocol["num_modes"][dataset]
    for i, (key, label, scale, digits) in enumerate(rows):
      cells = _metric_cells(results, dataset, method_names, key, scale,
                            digits, num_seeds, mark_failed=key == "modes")
      name = dataset if i == 0 else ""
      lines.append(f"| {name} | {label.format(k=num_modes)} | "
                   + " | ".join(cells) + " |")
    lines.append("|  | step time / gan | " + " | ".join(
        _ratio(results, dataset, m) for m in method_names) + " |")
    if equal_time:
      lines.append("|  | steps | " + " | ".join(
          str(equal_time["num_steps"][dataset][m]) for m in method_names)
                   + " |")
  return ("\n".join(lines) + "\n" + _quality_table(results)
          + _failures(results))


# The rows of an image set's table: (key, label, scale, digits).
IMAGE_ROWS = (("modes", "modes (max {k})", 1.0, 1),
              ("kl", "KL to uniform", 1.0, 3),
              ("seconds_per_step", "ms / step", 1000.0, 2))


def _learning_rates_note(choice: Optional[str]) -> str:
  """Where an image comparison's learning rates came from."""
  if choice == "per_set":
    return ("Each method at the learning rates tuned on each image set "
            "where it has them (`experiments.registry."
            "PER_SET_LEARNING_RATES`), else at the image config's own.")
  return ("Every method at the image config's learning rates (the ring's "
          "tuned rates are for the mixtures' MLPs and are not applied to "
          "the image networks).")


def format_image_table(results: Dict[str, Any]) -> str:
  """table.md of an image comparison, from results.json alone.

  Per image set: modes (of 10 classes, or of 1000 class triples for the
  stacked sets) and the KL from the generated class frequencies to
  uniform, as "mean (std)" over seeds (`mean_std`); ms per step and its
  ratio to the GAN's; beside a stacked set, the published stacked-MNIST
  rows (`stacked_mnist_block`). Then the failed runs.
  """
  protocol = results["protocol"]
  method_names = protocol["methods"]
  num_seeds = len(protocol["seeds"])
  done, steps, batches = _finished_runs(results)
  lines = [
      "# Image sets: mean (std) over seeds",
      "",
      _learning_rates_note(protocol.get("learning_rates")),
      "",
      f"Seeds {protocol['seeds']}; steps {steps}; batch {batches}; "
      f"overrides {protocol['overrides'] or 'none'}. "
      "Modes: the distinct classes (class triples for a stacked set) the "
      "digit classifier finds among the generated samples of the last "
      "evaluation; KL: KL(generated class frequencies || uniform), 0 for a "
      "generator that covers every mode evenly. "
      "std is the sample std over seeds (ddof=1). Step times exclude jit "
      "compilation and evaluation; they are wall-clock on the machine that "
      "ran each seed and comparable only within one table. "
      "`[n/N]`: only n of N seeds finished; `k failed`: k seeds stopped on "
      "a non-finite loss (or an auto-encoder gate), not averaged.",
  ]
  for dataset in protocol["configs"]:
    num_modes = protocol["num_modes"][dataset]
    lines += [
        "",
        f"## {dataset}",
        "",
        "| metric | " + " | ".join(method_names) + " |",
        "| --- | " + " | ".join("---" for _ in method_names) + " |",
    ]
    for key, label, scale, digits in IMAGE_ROWS:
      cells = _metric_cells(results, dataset, method_names, key, scale,
                            digits, num_seeds, mark_failed=key == "modes")
      lines.append(f"| {label.format(k=num_modes)} | " + " | ".join(cells)
                   + " |")
    lines.append("| step time / gan | " + " | ".join(
        _ratio(results, dataset, m) for m in method_names) + " |")
    accuracies = sorted({round(r["classifier_accuracy"], 4)
                         for r in done if r["dataset"] == dataset
                         and "classifier_accuracy" in r})
    finished = [r for r in done if r["dataset"] == dataset]
    if accuracies:
      lines += ["", "Judged by the digit classifier of test accuracy "
                + ", ".join(f"{a:.4f}" for a in accuracies)
                + " (`eval.classifier`, trained once per comparison)."]
    elif finished:
      lines += ["", "No digit classifier for this set: modes and KL are "
                "not measured (sample grids only)."]
    lines.append(stacked_mnist_block(dataset).rstrip("\n"))
  return "\n".join(lines).rstrip("\n") + "\n" + _failures(results)


def stacked_mnist_block(dataset: str) -> str:
  """The published stacked-MNIST rows beside a stacked set's table.

  "" for a set that is not stacked. Beside `stacked_digits` the block is
  headed as another data set: the papers trained on 28x28 stacked MNIST
  with their own networks, this project's set stacks 8x8 digits.

  >>> stacked_mnist_block("digits")
  ''
  >>> "Published (another data set)" in stacked_mnist_block("stacked_digits")
  True
  """
  if dataset not in ("stacked_digits", "stacked_mnist"):
    return ""
  if dataset == "stacked_digits":
    heading = ("### Published (another data set): stacked MNIST (28x28), "
               "not these stacked digits (8x8)")
    note = ("The papers' rows on stacked MNIST: three 28x28 MNIST digits "
            "as colour channels, their networks, protocols and "
            "classifiers. This table's set stacks 8x8 digits: the rows are "
            "context, not a bar for the cells above.")
  else:
    heading = "### Published: stacked MNIST (28x28), the papers' own setups"
    note = ("The papers' rows on this data set, with their own networks, "
            "protocols and classifiers: context, not a bar.")
  lines = [
      "",
      heading,
      "",
      note + " Sources: " + "; ".join(
          f"{source} ({published_rows.STACKED_MNIST_SPREAD[name]})"
          for name, source in published_rows.STACKED_MNIST_SOURCES.items())
      + ".",
      "",
      "| source | method (as printed) | here | modes (max 1000) | KL |",
      "| --- | --- | --- | --- | --- |",
  ]

  def printed(row, name, digits):
    value = f"{row[name]:.{digits}f}"
    err = row.get(f"{name}_err")
    return value if err is None else f"{value} +- {err:g}"

  for row in published_rows.STACKED_MNIST:
    lines.append(
        f"| {row['paper']} | {row['printed']} | {row['method'] or '-'} | "
        f"{printed(row, 'modes', 1)} | {printed(row, 'kl', 2)} |")
  return "\n".join(lines) + "\n"


def _failures(results: Dict[str, Any]) -> str:
  """The failed runs with their errors (they stay in the table, counted)."""
  failed = [r for r in results["runs"] if r["status"] == "failed"]
  if not failed:
    return ""
  lines = ["", "## Failed runs", "",
           "| data set | method | seed | error |", "| --- | --- | --- | --- |"]
  for run in failed:
    error = " ".join(str(run.get("error", "?")).split()).replace("|", "/")
    lines.append(f"| {run['dataset']} | {run['method']} | {run['seed']} | "
                 f"{error} |")
  return "\n".join(lines) + "\n"


def _time_to_quality(run: Dict[str, Any], ms_per_step) -> str:
  if run["status"] != "done":
    return run["status"]
  steps = run.get("steps_to_quality")
  if steps is None:
    return "not reached"
  if ms_per_step is not None:
    return f"{steps * ms_per_step / 1000:.0f} s ({steps} steps)"
  seconds = run.get("seconds_to_quality")
  return (f"{seconds:.0f} s ({steps} steps)" if seconds is not None
          else f"{steps} steps")


def _quality_table(results: Dict[str, Any]) -> str:
  """Per seed: when each run first had every mode and HQS >= the bar."""
  protocol = results["protocol"]
  equal_time = protocol.get("equal_time")
  seeds = protocol["seeds"]
  lines = [
      "",
      "## Time to quality",
      "",
      "First evaluation with every mode and HQS >= `eval.quality_hqs` "
      "(80% by default), per seed; evaluations are every `eval.every` steps. "
      + ("Seconds are those steps at the measured ms per step above (training "
         "only; set-up such as the auto-encoder is not counted)."
         if equal_time else
         "Seconds are wall-clock from the run's start (set-up, auto-encoder "
         "and compilation included) on the machine that ran it."),
      "",
      "| data set | method | " + " | ".join(f"seed {s}" for s in seeds)
      + " |",
      "| --- | --- | " + " | ".join("---" for _ in seeds) + " |",
  ]
  for dataset in protocol["configs"]:
    for method in protocol["methods"]:
      by_seed = {r["seed"]: r for r in _runs_of(results, dataset, method)}
      cost = (equal_time["ms_per_step"][method] if equal_time else None)
      cells = [_time_to_quality(by_seed[s], cost) if s in by_seed else "-"
               for s in seeds]
      lines.append(f"| {dataset} | {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def _mean_step_time(results, dataset, method) -> Optional[float]:
  times = [r["seconds_per_step"] for r in _runs_of(results, dataset, method)
           if r["status"] == "done"]
  return float(np.mean(times)) if times else None


def _ratio(results, dataset, method) -> str:
  base = _mean_step_time(results, dataset, "gan")
  mine = _mean_step_time(results, dataset, method)
  if base is None or mine is None:
    return "-"
  return f"{mine / base:.2f}x"


def plot_sample_grid(results: Dict[str, Any], workdir: str, path: str) -> None:
  """Tiles the first seed's final samples PNG: rows methods, cols data sets.

  An image comparison's grids sit side by side instead: rows data sets,
  columns methods.
  """
  protocol = results["protocol"]
  method_names, datasets = protocol["methods"], protocol["configs"]
  side_by_side = _is_images(results)
  rows, cols = ((len(datasets), len(method_names)) if side_by_side
                else (len(method_names), len(datasets)))
  fig = Figure(figsize=(3 * cols, 3 * rows))
  axes = fig.subplots(rows, cols, squeeze=False)
  for row, method in enumerate(method_names):
    for col, dataset in enumerate(datasets):
      ax = axes[col, row] if side_by_side else axes[row, col]
      ax.set_xticks([])
      ax.set_yticks([])
      finished = [r for r in _runs_of(results, dataset, method)
                  if r["status"] == "done"]
      image = None
      if finished:
        first = min(finished, key=lambda r: r["seed"])
        image_path = os.path.join(workdir, first["samples"])
        if os.path.exists(image_path):
          image = matplotlib.image.imread(image_path)
      if image is not None:
        ax.imshow(image)
      else:
        ax.text(0.5, 0.5, "missing", ha="center", va="center")
      if side_by_side:
        if col == 0:
          ax.set_title(method)
        if row == 0:
          ax.set_ylabel(dataset)
      else:
        if row == 0:
          ax.set_title(dataset)
        if col == 0:
          ax.set_ylabel(method)
      for spine in ax.spines.values():
        spine.set_visible(False)
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def _mean_curve(runs: List[dict], keys: Sequence[str] = ("modes", "hqs")):
  """(steps, seconds, {metric: (mean, sample std)}) over seeds, common evals."""
  curves = [r["curve"] for r in runs if r["status"] == "done" and r["curve"]
            and all(k in r["curve"][0] for k in keys)]
  if not curves:
    return None
  length = min(len(c) for c in curves)
  steps = np.asarray([p["step"] for p in curves[0][:length]])
  seconds = np.mean([[p["seconds"] for p in c[:length]] for c in curves], 0)
  stats = {}
  for key in keys:
    values = np.asarray([[p[key] for p in c[:length]] for c in curves])
    # The sample std (ddof=1) of the tables (`mean_std`), per step.
    stats[key] = (values.mean(0),
                  values.std(0, ddof=1) if len(curves) > 1
                  else np.zeros(length))
  return steps, seconds, stats


def plot_comparison_curves(results: Dict[str, Any], path: str) -> None:
  """Modes and HQS against steps and against training seconds, per data set.

  For an image comparison: modes and KL to uniform.
  """
  protocol = results["protocol"]
  datasets = protocol["configs"]
  if _is_images(results):
    _plot_image_curves(results, path)
    return
  # At equal training time the seconds are steps x the measured step cost
  # (the table's own clock), not the busy machine's wall-clock.
  equal_time = protocol.get("equal_time")
  seconds_label = ("training seconds (at measured step cost)" if equal_time
                   else "training seconds")
  fig = Figure(figsize=(16, 3.2 * len(datasets)))
  axes = fig.subplots(len(datasets), 4, squeeze=False)
  for row, dataset in enumerate(datasets):
    for method in protocol["methods"]:
      curve = _mean_curve(_runs_of(results, dataset, method))
      if curve is None:
        continue
      steps, seconds, stats = curve
      if equal_time:
        seconds = steps * equal_time["ms_per_step"][method] / 1000.0
      for col, (x, key) in enumerate(((steps, "modes"), (steps, "hqs"),
                                      (seconds, "modes"), (seconds, "hqs"))):
        mean, std = stats[key]
        scale = 100.0 if key == "hqs" else 1.0
        axes[row, col].plot(x, scale * mean, marker=".", label=method)
        axes[row, col].fill_between(x, scale * (mean - std),
                                    scale * (mean + std), alpha=0.15)
    for col, (xlabel, ylabel) in enumerate((
        ("step", "modes"), ("step", "HQS (%)"),
        (seconds_label, "modes"), (seconds_label, "HQS (%)"))):
      ax = axes[row, col]
      ax.set_xlabel(xlabel)
      ax.set_ylabel(ylabel)
      ax.set_title(f"{dataset} (max {protocol['num_modes'][dataset]} modes)"
                   if col == 0 else dataset)
    if axes[row, 0].lines:
      axes[row, 0].legend(fontsize="small")
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def _plot_image_curves(results: Dict[str, Any], path: str) -> None:
  """Modes and KL against steps and training seconds, per image set."""
  protocol = results["protocol"]
  datasets = protocol["configs"]
  panels = ((False, "modes", "modes"), (False, "kl", "KL to uniform"),
            (True, "modes", "modes"), (True, "kl", "KL to uniform"))
  fig = Figure(figsize=(16, 3.2 * len(datasets)))
  axes = fig.subplots(len(datasets), len(panels), squeeze=False)
  for row, dataset in enumerate(datasets):
    for method in protocol["methods"]:
      curve = _mean_curve(_runs_of(results, dataset, method), ("modes", "kl"))
      if curve is None:
        continue
      steps, seconds, stats = curve
      for col, (by_seconds, key, _) in enumerate(panels):
        x = seconds if by_seconds else steps
        mean, std = stats[key]
        axes[row, col].plot(x, mean, marker=".", label=method)
        axes[row, col].fill_between(x, mean - std, mean + std, alpha=0.15)
    for col, (by_seconds, _, ylabel) in enumerate(panels):
      ax = axes[row, col]
      ax.set_xlabel("training seconds" if by_seconds else "step")
      ax.set_ylabel(ylabel)
      ax.set_title(f"{dataset} (max {protocol['num_modes'][dataset]} modes)"
                   if col == 0 else dataset)
    if axes[row, 0].lines:
      axes[row, 0].legend(fontsize="small")
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def published_key(protocol: Dict[str, Any], method: str) -> str:
  """The key in `published.PUBLISHED` of `method`'s runs in a results.json
  `protocol`: PacGAN's carries the pack size those runs used."""
  pack_size = protocol["overrides"].get(
      "methods.pacgan.pack_size", mixtures.PACGAN_PACK_SIZE)
  return published_rows.method_key(method, pack_size)


def reproduction_table(results: Dict[str, Any],
                       preset: Optional[str] = None,
                       only_published: bool = False) -> str:
  """This table's runs beside the published rows of its protocol's paper.

  `preset` defaults to the one results.json records (runs of the project's
  own protocol record none: pass "diwgan" to set them beside the DIW-GAN
  paper's Table 1). Empty when that paper has no published rows
  (`experiments.published`). Per (data set, method): modes, HQS % and the
  paper's third metric (reverse KL or JSD) as mean (sample std) over the
  finished seeds, the paper's row as it prints it, and whether the bar is
  met (modes >= published - 0.5, HQS >= published - 10 points). Where the
  paper prints no third metric (VEEGAN), the JSD measured here stands
  beside "not published". `only_published` leaves out the methods the
  paper has no row for.
  """
  protocol = results["protocol"]
  preset = preset or protocol.get("preset")
  rows = published_rows.PUBLISHED.get(preset)
  if not rows:
    return ""
  third = published_rows.THIRD_METRIC[preset]
  published_third = third is not None
  third = third or "jsd"
  third_name = {"reverse_kl": "reverse KL", "jsd": "JSD"}[third]
  lines = [
      "",
      f"## Beside the {preset} paper's published rows",
      "",
      "Here: mean (sample std) over the finished seeds; published: "
      f"{published_rows.SPREAD[preset]}. The bar: modes >= published - "
      f"{published_rows.MODES_SLACK} and HQS >= published - "
      f"{published_rows.HQS_SLACK:.0f} points.",
      "",
      "| data set | method | seeds | modes here | modes published | HQS % "
      f"here | HQS % published | {third_name} here | {third_name} published "
      "| bar |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]

  def printed(row, name, scale_fmt):
    value = scale_fmt.format(row[name])
    err = row.get(f"{name}_err")
    return value if err is None else f"{value} +- {scale_fmt.format(err)}"

  for dataset in protocol["configs"]:
    for method in protocol["methods"]:
      key = published_key(protocol, method)
      row = rows.get((dataset, key))
      done = [r for r in _runs_of(results, dataset, method)
              if r["status"] == "done"]
      if not done or (row is None and only_published):
        continue
      modes = [r["modes"] for r in done]
      hqs = [r["hqs"] for r in done]
      third_values = [r[third] for r in done if third in r]
      digits = 2 if third == "reverse_kl" else 3
      if row is None:
        published = ["no published row"] * 3
        bar = "-"
      else:
        published = [printed(row, "modes", "{:.1f}"),
                     printed(row, "hqs", "{:.1f}"),
                     printed(row, third, f"{{:.{digits}f}}")
                     if published_third else "not published"]
        bar = ("met" if published_rows.meets_bar(
            float(np.mean(modes)), 100.0 * float(np.mean(hqs)), row)
               else "**missed**")
      lines.append(
          f"| {dataset} | {key} | {len(done)} | {_cell(modes, 1.0, 1)} | "
          f"{published[0]} | {_cell(hqs, 100.0, 1)} | {published[1]} | "
          f"{_cell(third_values, 1.0, digits)} | {published[2]} | {bar} |")
  return "\n".join(lines) + "\n"


def table_markdown(results: Dict[str, Any]) -> str:
  """table.md: `format_table`, then `reproduction_table` (for a preset)."""
  return format_table(results) + reproduction_table(results)


def write_report(results: Dict[str, Any], workdir: str) -> str:
  """Writes table.md, samples.png and curves.png; returns the table."""
  table = table_markdown(results)
  with open(os.path.join(workdir, TABLE), "w") as f:
    f.write(table)
  plot_sample_grid(results, workdir, os.path.join(workdir, SAMPLES))
  plot_comparison_curves(results, os.path.join(workdir, CURVES))
  return table


# --- Statistics and curves of one run's records ---------------------------

def summarise_runs(values: Dict[str, Any], seeds: Optional[Sequence[int]]
                    ) -> Dict[str, Any]:
  """Scalars as they are; per-run arrays as mean, `<name>_std` and per seed.

  The std is the sample standard deviation (ddof=1; 0 for one run), as in
  "mean (std)" tables over seeds.
  """
  if seeds is None:
    return {k: records.to_python(v) for k, v in values.items()}
  summary, per_seed = {}, {}
  for name, value in values.items():
    value = np.asarray(value, np.float64)
    summary[name], summary[f"{name}_std"] = mean_std(value)
    per_seed[name] = [float(v) for v in value]
  summary["per_seed"] = per_seed
  return summary


def first_quality(
    eval_records: Sequence[Dict[str, Any]],
    quality: Optional[Callable[[Dict[str, Any]], bool]],
    seeds: Optional[Sequence[int]] = None,
) -> Dict[str, Any]:
  """`seconds_to_quality` and `steps_to_quality` of a run's evaluations.

  Args:
    eval_records: the run's "eval" records in step order, each with
      `seconds` (since the command started) and the metrics; for vmapped
      seeds, each metric's per-seed values under `per_seed`.
    quality: metrics of one run -> whether the run has reached the quality
      bar; None for no bar.
    seeds: the seeds of a vmapped run, or None.

  Returns:
    {} without a bar; else the `seconds` and `step` of the first evaluation
    that passed (None if none did), as lists over seeds for vmapped runs.

  Example:
    >>> records = [{"step": 0, "seconds": 5.0, "hqs": 0.1},
    ...            {"step": 100, "seconds": 9.0, "hqs": 0.9}]
    >>> first_quality(records, lambda r: r["hqs"] >= 0.8)
    {'seconds_to_quality': 9.0, 'steps_to_quality': 100}
  """
  if quality is None:
    return {}

  def first(runs_metrics):
    for record, metrics in runs_metrics:
      if quality(metrics):
        return record.get("seconds"), record["step"]
    return None, None

  if seeds is None:
    seconds, steps = first((r, r) for r in eval_records)
    return {"seconds_to_quality": seconds, "steps_to_quality": steps}
  per_seed = [
      first((r, {k: v[i] for k, v in r["per_seed"].items()})
            for r in eval_records)
      for i in range(len(seeds))]
  return {"seconds_to_quality": [s for s, _ in per_seed],
          "steps_to_quality": [t for _, t in per_seed]}



# One panel of `plot_eval_curves`: (y label, [(metric, legend label or None,
# scale)]).
Panel = Tuple[str, Sequence[Tuple[str, Optional[str], float]]]


def plot_eval_curves(eval_records: list, path: str,
                     panels: Sequence[Panel]) -> None:
  """Side-by-side panels of evaluation metrics against steps, as a PNG."""
  steps = [r["step"] for r in eval_records]
  fig = Figure(figsize=(4.5 * len(panels), 3.5))
  for ax, (ylabel, series) in zip(fig.subplots(1, len(panels)), panels):
    for i, (name, label, scale) in enumerate(series):
      ax.plot(steps, [scale * r[name] for r in eval_records],
              marker="o" if i == 0 else ".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if any(label for _, label, _ in series):
      ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)

