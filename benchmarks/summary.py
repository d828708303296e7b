r"""Renders the committed results into docs/RESULTS.md, README.md, docs/*.md.

Run from the repository root after the benchmarks:

  python -m benchmarks.assignment
  python -m benchmarks.kde
  python -m benchmarks.step
  python -m benchmarks.summary

Replaces only the text between `<!-- performance:begin -->` and
`<!-- performance:end -->` in --results_md (the other sections belong to
other work), and writes the plots to --figures. A missing JSON leaves its
part out. It also refreshes every `<!-- include: <path> -->` block (the
comparison harness's committed `table.md` files, `refresh_includes`) and
every `<!-- generated: <name> -->` block (the prose that quotes a measured
number, `refresh_generated`) of the pages in `PAGES`.
"""

import argparse
import functools
import itertools
import json
import os
import re

from matplotlib.figure import Figure

from benchmarks import common
from experiments import published
from experiments import registry
from experiments import report

BEGIN = "<!-- performance:begin -->"
END = "<!-- performance:end -->"


def _load(path):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _status(ok):
  return "met" if ok else "**not met**"


def _timing_status(wall_ok, cpu_ok, other_ok=True):
  """A timing target is met only if both clocks meet it."""
  if not other_ok:
    return "**not met**"
  if wall_ok and cpu_ok:
    return "met"
  if wall_ok or cpu_ok:
    return f"**met on {'wall' if wall_ok else 'CPU'} time only**"
  return "**not met**"


def _machine(results):
  p = results["platform"]
  start = ", ".join(f"{x:.1f}" for x in p.get("load_average_start", []))
  end = ", ".join(f"{x:.1f}" for x in p.get("load_average_end", []))
  return (f"{p.get('cpu_model', '?')} ({p.get('vector_extensions', 'vector extensions not recorded')}), "
          f"{p.get('cpu_count', '?')} cores, "
          f"JAX {p.get('jax', '?')} ({p.get('backend', '?')}); "
          f"load average {start} at the start, {end} at the end; "
          f"{p.get('date', '?')}"
          + "".join(f"; {cap}" for cap in _isa_caps(p)))


def _isa_caps(platform):
  """The instruction-set caps a benchmark ran under, as `VARIABLE `value``."""
  return [f"{name} `{platform[key]}`" for key, name in common.ISA_CAPS
          if platform.get(key)]


def _busy_flag(results):
  """A warning line when the run's load exceeded the machine's cores."""
  p = results["platform"]
  load = max(p.get("load_average_start", [0.0])[0],
             p.get("load_average_end", [0.0])[0])
  cores = p.get("cpu_count", 0)
  if cores and load > cores:
    return [f"**Measured on a busy machine** (load {load:.1f} on {cores} "
            "cores): other processes took CPU time during the run, so its "
            "absolute times are slower than an idle run's; re-run it idle "
            "before quoting them.", ""]
  return []


def _header(results, title):
  return [
      f"### {title}", "",
      f"`{results.get('command', '?').strip()}`", "",
      f"Machine: {_machine(results)}.", "",
  ] + _busy_flag(results)


def _save_log_log(fig, ax, xlabel, ylabel, path):
  """Log-log axes (base-2 x) with grid and legend, saved as a PNG."""
  ax.set_xscale("log", base=2)
  ax.set_yscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def plot_matching(assignment, path):
  rows = assignment["cold"]
  fig = Figure(figsize=(5.5, 4))
  ax = fig.subplots()
  for key, label, marker in [
      ("auction", "auction (Gauss-Seidel, default on CPU)", "o"),
      ("jacobi", "auction (Jacobi)", "s"),
      ("scipy", "scipy linear_sum_assignment", "^"),
      ("hungarian", "optax hungarian_algorithm", "v")]:
    points = [(r["n"], r[key]["ms"]) for r in rows if r.get(key)]
    if points:
      n, ms = zip(*points)
      ax.plot(n, ms, marker=marker, label=label)
  _save_log_log(fig, ax, "n (n x n euclidean costs, 8-d clouds)",
                "ms per solve (median, wall)", path)


def plot_step_vs_batch(step, path):
  rows = step["step_vs_batch"]
  batch = [r["batch_size"] for r in rows]
  fig = Figure(figsize=(5.5, 4))
  ax = fig.subplots()
  for key, label, color, marker in [("gan", "GAN", "tab:blue", "o"),
                                    ("diwgan", "DIW-GAN (auction)",
                                     "tab:orange", "s")]:
    ax.plot(batch, [r[f"{key}_step_ms"] for r in rows], marker=marker,
            color=color, label=f"{label}, wall")
    ax.plot(batch, [r[f"{key}_cpu_step_ms"] for r in rows], marker=marker,
            color=color, ls="--", alpha=0.6, label=f"{label}, process CPU")
  _save_log_log(fig, ax, "batch size B", "ms per training step (lax.scan)",
                path)


def plot_profile(step, path):
  pieces = step["profile"]["pieces"]
  names = list(pieces)[::-1]
  fig = Figure(figsize=(7.5, 3.8))
  ax = fig.subplots()
  ax.barh(names, [pieces[n]["ms"] for n in names], color="tab:blue",
          label="wall")
  ax.barh(names, [pieces[n]["cpu_ms"] for n in names], color="tab:orange",
          alpha=0.6, label="process CPU")
  ax.axvline(step["profile"]["step_ms"], color="k", ls="--",
             label="full DIW-GAN step")
  ax.axvline(step["profile"]["gan_step_ms"], color="0.5", ls=":",
             label="full GAN step")
  ax.set_xlabel(f"ms (batch {step['profile']['batch_size']})")
  ax.tick_params(axis="y", labelsize=7)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def assignment_section(results, figures_rel):
  lines = _header(results, "Assignment (`benchmarks/assignment.py`)")
  lines += [
      "Cold solves of n x n euclidean costs between two standard-normal 8-d "
      "clouds (median; ms wall, CPU ms in brackets). `auction` is the "
      "default call (Gauss-Seidel bidding on CPU: the compiled kernel when "
      "built), *JAX loop* the same bids in a `lax.while_loop`.", "",
      "| n | auction | JAX loop | Jacobi auction | scipy | optax Hungarian "
      "| auction / scipy (wall, CPU) | max gap | bids |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in results["cold"]:
    def cell(key):
      v = r.get(key)
      return "-" if not v else f"{v['ms']:.1f} ({v['cpu_ms']:.1f})"
    lines.append(
        f"| {r['n']} | {cell('auction')} | {cell('auction_jax_loop')} | "
        f"{cell('jacobi')} | "
        f"{cell('scipy')} | {cell('hungarian')} | "
        f"{r['ratio_auction_scipy']:.2f}, {r['cpu_ratio_auction_scipy']:.2f} "
        f"| {r['auction']['max_relative_gap']:.1e} | "
        f"{r['auction']['mean_rounds']:.0f} |")
  lines += ["", f"![matching time vs n]({figures_rel}/matching_vs_n.png)", ""]

  if results.get("recorded"):
    lines += [
        "Recorded DIW-GAN ring problems (`benchmarks/data/ring_costs.npz`, "
        "512 x 512, solved in training order; mean ms wall, CPU ms in "
        "brackets). *cold* = as DIW-GAN calls it; *warm* = warm-started "
        "with the previous step's prices; *previous Jacobi* = the project's "
        "earlier call (Jacobi bidding, warm eps_start 1e-2) and optax's "
        "Hungarian, on the first steps only.", "",
        "| phase (steps) | auction cold | auction warm | scipy | cold / "
        "scipy (wall, CPU) | warm / scipy (wall, CPU) | bids cold (warm) "
        "mean / max | converged | max gap / bound | previous Jacobi / scipy "
        "| Hungarian / scipy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["recorded"]:
      w, c, s = r["auction_warm"], r["auction_cold"], r["scipy"]
      lines.append(
          f"| {r['phase_start']}.. ({r['steps']}) | {c['ms']:.1f} "
          f"({c['cpu_ms']:.1f}) | {w['ms']:.1f} ({w['cpu_ms']:.1f}) | "
          f"{s['ms']:.1f} ({s['cpu_ms']:.1f}) | {r['ratio_cold_scipy']:.2f}, "
          f"{r['cpu_ratio_cold_scipy']:.2f} | {r['ratio_warm_scipy']:.2f}, "
          f"{r['cpu_ratio_warm_scipy']:.2f} | {c['mean_rounds']:.0f} "
          f"({w['mean_rounds']:.0f}) / {c['max_rounds']} "
          f"({w['max_rounds']}) | {c['all_converged'] and w['all_converged']}"
          f" | {max(c['max_gap_over_bound'], w['max_gap_over_bound']):.2f} | "
          f"{r.get('ratio_jacobi_previous_scipy', float('nan')):.2f} | "
          f"{r.get('ratio_hungarian_scipy', float('nan')):.2f} |")
    lines.append("")

  if results.get("drift"):
    lines += [
        "Drifting clouds (mean ms wall): warm = prices + assignment of the "
        "previous call (adaptive first eps); prices only = cold schedule from "
        "the previous prices.", "",
        "| n | warm | prices only | cold | scipy | warm bids | max gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["drift"]:
      lines.append(
          f"| {r['n']} | {r['warm']['ms']:.1f} | {r['warm_prices']['ms']:.1f}"
          f" | {r['cold']['ms']:.1f} | {r['scipy']['ms']:.1f} | "
          f"{r['warm']['mean_rounds']:.0f} | "
          f"{r['warm']['max_relative_gap']:.1e} |")
    lines.append("")
  return lines


def kde_section(results):
  lines = _header(results, "KDE log-density (`benchmarks/kde.py`)")
  c = results["config"]
  ratio = results.get("temp_memory_ratio_vs_jax_scipy")
  lines += [
      f"m={c['num_points']}, d={c['dim']}, q={c['num_queries']}: diwgan.kde "
      f"{results['diwgan']['seconds'] * 1e3:.1f} ms, scipy "
      f"{results['scipy']['seconds'] * 1e3:.1f} ms, jax.scipy "
      f"{results['jax_scipy']['seconds'] * 1e3:.1f} ms; speed-up vs scipy "
      f"{results['speedup_vs_scipy']:.1f}x; XLA temp memory vs jax.scipy "
      + ("n/a" if ratio is None else f"{ratio:.4f}x")
      + f"; max relative error vs scipy "
      f"{results['diwgan']['max_rel_error']:.1e}.", ""]
  return lines


def step_section(results, figures_rel):
  lines = _header(results, "Training step (`benchmarks/step.py`)")
  sps = results["steps_per_second"]
  lines += [
      f"Batch {sps['batch_size']}, ring, `lax.scan` chunks of "
      f"{results['config']['chunk']} steps after "
      f"{results['config']['warmup_steps']} warm-up steps (median of "
      f"{results['config']['repeats']}).", "",
      "| variant | ms / step | CPU ms / step | steps/s | x GAN (wall) | "
      "x GAN (CPU) |",
      "|---|---|---|---|---|---|",
  ]
  for name, r in sps["rows"].items():
    lines.append(
        f"| {name} | {r['step_ms']:.2f} | {r['cpu_step_ms']:.2f} | "
        f"{r['steps_per_second']:.1f} | {r['ratio_to_gan']:.2f} | "
        f"{r['cpu_ratio_to_gan']:.2f} |")
  if "loop_ratio_to_gan" in sps:
    rows = sps["rows"]
    lines += [
        "", f"The training loop itself, same run ({results['config']['warmup_steps']} "
        "steps each, median of its logged chunks): GAN "
        f"{rows['gan']['loop_step_ms']:.2f} ms / step, DIW-GAN "
        f"{rows['diwgan']['loop_step_ms']:.2f} ms / step, "
        f"**{sps['loop_ratio_to_gan']:.2f}x**; loop / benchmark "
        f"{rows['gan']['loop_over_benchmark']:.2f} (GAN), "
        f"{rows['diwgan']['loop_over_benchmark']:.2f} (DIW-GAN)."]
  lines += ["", "Profile of one DIW-GAN step (separately jitted pieces, mean "
            "over fresh noise draws):", "",
            "| piece | ms | CPU ms |", "|---|---|---|"]
  for name, r in results["profile"]["pieces"].items():
    lines.append(f"| {name} | {r['ms']:.2f} | {r['cpu_ms']:.2f} |")
  lines += [
      f"| full DIW-GAN step (scan) | {results['profile']['step_ms']:.2f} | |",
      f"| full GAN step (scan) | {results['profile']['gan_step_ms']:.2f} | |",
      "", f"![profile]({figures_rel}/step_profile.png)", "",
      "Step time vs batch (ms / step, wall):", "",
      "| batch | GAN | DIW-GAN | ratio | GAN CPU | DIW-GAN CPU |",
      "|---|---|---|---|---|---|"]
  for r in results["step_vs_batch"]:
    lines.append(
        f"| {r['batch_size']} | {r['gan_step_ms']:.2f} | "
        f"{r['diwgan_step_ms']:.2f} | {r['ratio']:.2f} | "
        f"{r['gan_cpu_step_ms']:.2f} | {r['diwgan_cpu_step_ms']:.2f} |")
  lines += ["", f"![step time vs batch]({figures_rel}/step_vs_batch.png)", ""]
  return lines


def _mean_std(values, fmt):
  mean, std = report.mean_std(values)
  if len(values) == 1:
    return fmt.format(mean)
  return f"{fmt.format(mean)} ({fmt.format(std)})"


def time_to_quality_section(results):
  """The README command end to end, per setting and method."""
  lines = [
      "### Time to quality (`benchmarks/time_to_quality.py`)", "",
      "Commands: `python -m benchmarks.time_to_quality --methods=<methods> "
      "--seeds=0,1,2 --tag=<setting> --overrides=\"<overrides>\"`, one per "
      "setting (the overrides are listed per setting below).", "",
      f"Machine: {_machine(results)} (the last sweep's; each run's own load "
      "average is in its row below).", ""]
  lines += [
      "Each row: the command `python -m experiments.mog --config=<set> "
      "--method=<method> --config.seed=<s> <overrides>` run alone, one seed "
      "after the other, from a fresh process. *to quality* = seconds from "
      "the process start (imports, auto-encoder and compilation included) "
      "to the first evaluation (every 1,000 steps) with every mode and HQS "
      ">= 80%. Mean (std) over seeds; per seed below.", "",
      "| setting | set | method | seeds | wall (s) | to quality (s) | "
      "reached | steps to quality | loop steps/s | first 1,500 steps/s | "
      "modes | HQS % | JSD |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  groups = {}
  for run in results["runs"]:
    if "error" in run:
      continue
    groups.setdefault((run["tag"], run["config"], run["method"]), []).append(run)
  for (tag, dataset, method), runs in groups.items():
    reached = [r for r in runs if r["seconds_to_quality"] is not None]
    lines.append(
        f"| {tag} | {dataset} | {method} | {len(runs)} | "
        f"{_mean_std([r['wall_seconds'] for r in runs], '{:.0f}')} | "
        + (_mean_std([r['seconds_to_quality'] for r in reached], '{:.0f}')
           if reached else "not reached")
        + f" | {len(reached)}/{len(runs)} | "
        + (_mean_std([r['steps_to_quality'] for r in reached], '{:.0f}')
           if reached else "-")
        + f" | {_mean_std([r['steps_per_sec'] for r in runs], '{:.1f}')} | "
        + (_mean_std([r['steps_per_sec_first'] for r in runs], '{:.1f}')
           if all("steps_per_sec_first" in r for r in runs) else "-")
        + f" | {_mean_std([r['modes'] for r in runs], '{:.1f}')} | "
        f"{_mean_std([100 * r['hqs'] for r in runs], '{:.1f}')} | "
        f"{_mean_std([r['jsd'] for r in runs], '{:.3f}')} |")
  lines += ["", "Per seed (seed: wall s / to quality s / HQS % / load average "
            "before the run):", ""]
  for (tag, dataset, method), runs in groups.items():
    cells = ", ".join(
        f"{r['seed']}: {r['wall_seconds']:.0f} / "
        + ("-" if r["seconds_to_quality"] is None
           else f"{r['seconds_to_quality']:.0f}")
        + f" / {100 * r['hqs']:.1f} / {r['load_average_before'][0]:.1f}"
        for r in sorted(runs, key=lambda r: r["seed"]))
    overrides = runs[0].get("overrides") or "defaults"
    lines.append(f"- {tag} ({overrides}), {dataset}, {method}: {cells}")
  lines.append("")
  return lines


# The README command end to end on the AVX-512 EPYC (GAN beside DIW-GAN and
# the looser auction eps, one idle sitting) and `benchmarks.step` there
# (batch 512 only: the step ratio and the profile of one DIW-GAN step).
TIME_TO_QUALITY_AVX512 = "benchmarks/results/time_to_quality_avx512.json"
STEP_AVX512 = "benchmarks/results/step_avx512.json"
# The same sitting on the 2-core Intel Xeon with AVX-512, before and after
# the auction kernel's independent chains.
TIME_TO_QUALITY_XEON = "benchmarks/results/time_to_quality_xeon.json"
STEP_XEON = "benchmarks/results/step_xeon.json"
TIME_TO_QUALITY_XEON_BEFORE = (
    "benchmarks/results/time_to_quality_xeon_before.json")
STEP_XEON_BEFORE = "benchmarks/results/step_xeon_before.json"


def _section_block(path, section):
  """A Performance section's lines as a generated block: its heading and
  figures (the main run's) dropped, runs of blank lines collapsed."""
  lines = []
  for line in section[2:]:
    if line.startswith("![") or (not line and lines and not lines[-1]):
      continue
    lines.append(line)
  return (f"`{path}`:\n\n" + "\n".join(lines)).rstrip()


# The README command on a 2-core AMD EPYC with AVX-512 and VP2INTERSECT:
# the GAN beside DIW-GAN at the defaults, then DIW-GAN at diw.history = 5.
TIME_TO_QUALITY_ZEN5 = "benchmarks/results/time_to_quality_zen5.json"
# One step profiled on the same CPU (family 26), idle.
STEP_ZEN5 = "benchmarks/results/step_zen5.json"
STEP_ZEN5_BEFORE = "benchmarks/results/step_zen5_before.json"
# The same CPU with AVX2 caps (XLA_FLAGS, DIWGAN_AUCTION_ISA), before and
# after the cheaper step.
STEP_ZEN5_AVX2 = "benchmarks/results/step_zen5_avx2.json"
STEP_ZEN5_AVX2_BEFORE = "benchmarks/results/step_zen5_avx2_before.json"


def block_time_to_quality_sitting(data, path=TIME_TO_QUALITY_AVX512):
  return _section_block(path, time_to_quality_section(data(path)))


# Target 3 of the time to quality: PacGAN at its best ring settings and
# DIW-GAN at the defaults, one after the other in one idle sitting.
SIDE_BY_SIDE = (("pacgan_tuned_30k_side_by_side", "pacgan", "PacGAN"),
                ("diwgan_side_by_side", "diwgan", "DIW-GAN"))
# The Xeon sitting's DIW-GAN side is its GAN-ratio setting's DIW-GAN runs.
SIDE_BY_SIDE_XEON = (SIDE_BY_SIDE[0],
                     ("defaults_same_sitting", "diwgan", "DIW-GAN"))
# The Zen 5 sitting after the cheaper step: PacGAN beside DIW-GAN's runs of
# the GAN-ratio setting.
SIDE_BY_SIDE_ZEN5 = (SIDE_BY_SIDE[0], ("cheaper_step", "diwgan", "DIW-GAN"))


def _sitting_runs(data, tag, method, path=TIME_TO_QUALITY_AVX512):
  """A sitting's runs of one setting (`tag`) and method."""
  rows = [r for r in data(path)["runs"]
          if r["tag"] == tag and r["method"] == method]
  if not rows:
    raise ValueError(f"{path} has no {tag} {method} runs")
  return rows


def _mean(values):
  return report.mean_std(values)[0]


def block_ttq_gan_ratio(data, path=TIME_TO_QUALITY_AVX512,
                        diw_tag="defaults_same_sitting",
                        gan_tag="defaults_same_sitting"):
  """Target 1 in one sitting: DIW-GAN's loop rate (its `diw_tag` runs)
  against the GAN's (its `gan_tag` runs)."""
  gan = _sitting_runs(data, gan_tag, "gan", path)
  diw = _sitting_runs(data, diw_tag, "diwgan", path)
  if len(gan) != len(diw):
    raise ValueError(f"{diw_tag}: GAN and DIW-GAN seeds differ")
  whole, first = (_mean([r[k] for r in gan]) / _mean([r[k] for r in diw])
                  for k in ("steps_per_sec", "steps_per_sec_first"))
  return (
      f"GAN's loop steps/s over DIW-GAN's (`{diw_tag}`, mean of "
      f"{len(gan)} seeds each): over the whole run {whole:.2f}x; over the "
      f"first 1,500 steps {first:.2f}x. The target of at most 3x: "
      + ("met" if whole <= 3 else "**missed**") + " over the whole run, "
      + ("met" if first <= 3 else "**missed**") + " over its first 1,500 "
      "steps.")


def block_ttq_side_by_side(data, path=TIME_TO_QUALITY_AVX512,
                           settings=SIDE_BY_SIDE):
  seconds, lines = {}, []
  for tag, method, label in settings:
    rows = _sitting_runs(data, tag, method, path)
    reached = [r["seconds_to_quality"] for r in rows
               if r["seconds_to_quality"] is not None]
    seconds[label] = _mean(reached) if reached else None
    lines.append(
        f"- {label} (`{rows[0]['overrides'] or 'defaults'}`): the bar in "
        f"{len(reached)}/{len(rows)} seeds, "
        + (f"after {_mean_std(reached, '{:.0f}')} s" if reached else "never")
        + f", at {_mean_std([r['steps_per_sec'] for r in rows], '{:.0f}')}"
        " loop steps/s; final HQS "
        f"{_mean_std([100 * r['hqs'] for r in rows], '{:.1f}')}%.")
  if all(seconds.values()):
    lines.append(
        f"- First to the bar: {min(seconds, key=seconds.get)}, DIW-GAN's "
        f"seconds over PacGAN's: "
        f"{seconds['DIW-GAN'] / seconds['PacGAN']:.1f}x.")
  return "\n".join(lines)


def block_ttq_within_a_minute(data, path=TIME_TO_QUALITY_XEON,
                              tag="defaults_same_sitting"):
  """Target 2: the README command to the bar within 60 s, seed by seed."""
  rows = sorted(_sitting_runs(data, tag, "diwgan", path),
                key=lambda r: r["seed"])
  within = [r for r in rows if r["seconds_to_quality"] is not None
            and r["seconds_to_quality"] <= 60]
  per_seed = ", ".join(
      f"seed {r['seed']} " + (f"{r['seconds_to_quality']:.0f} s"
                              if r["seconds_to_quality"] is not None
                              else "not reached") for r in rows)
  return (f"The README command to every mode and HQS >= 80%: {per_seed}. "
          f"Within 60 s in {len(within)} of {len(rows)} seeds: the target "
          + ("met" if len(within) == len(rows) else "**missed**") + ".")


# The compilation cache (experiments.compilation_cache) in one idle sitting
# on the Zen 5: DIW-GAN at the defaults without a cache, with an empty one
# (a user's first run) and with a filled one (later runs); PacGAN at its
# best ring settings with an empty and a filled one.
CACHE_SITTING_ZEN5 = (
    ("cache_off", "diwgan", "DIW-GAN"),
    ("cache_cold", "diwgan", "DIW-GAN"),
    ("cache_warm", "diwgan", "DIW-GAN"),
    ("pacgan_tuned_30k_cache_cold", "pacgan", "PacGAN"),
    ("pacgan_tuned_30k_cache_warm", "pacgan", "PacGAN"))
CACHE_WARM_SIDE_BY_SIDE_ZEN5 = (
    (CACHE_SITTING_ZEN5[4][0], "pacgan", "PacGAN"),
    (CACHE_SITTING_ZEN5[2][0], "diwgan", "DIW-GAN"))


def block_ttq_compilation_cache(data, path=TIME_TO_QUALITY_ZEN5,
                                settings=CACHE_SITTING_ZEN5):
  """The README command without, with an empty and with a filled cache."""
  lines = [
      "| method | setting | cache | seeds | to the first 100 steps (s) | "
      "to quality (s) | reached | wall (s) |",
      "|---|---|---|---|---|---|---|---|"]
  for tag, method, label in settings:
    rows = _sitting_runs(data, tag, method, path)
    reached = [r["seconds_to_quality"] for r in rows
               if r["seconds_to_quality"] is not None]
    lines.append(
        f"| {label} | {tag} | {rows[0].get('compilation_cache', 'off')} | "
        f"{len(rows)} | "
        f"{_mean_std([r['seconds_first_chunk'] for r in rows], '{:.1f}')} | "
        + (_mean_std(reached, "{:.1f}") if reached else "not reached")
        + f" | {len(reached)}/{len(rows)} | "
        f"{_mean_std([r['wall_seconds'] for r in rows], '{:.1f}')} |")
  return "\n".join(lines)


def block_step_before_after(data, before=STEP_XEON_BEFORE, after=STEP_XEON):
  """Target 4: one DIW-GAN step's pieces before and after a change."""
  old, new = data(before), data(after)
  lines = [
      f"| piece (batch {new['profile']['batch_size']}) | before (ms) | "
      "after (ms) | before / after |",
      "|---|---|---|---|"]
  rows = [(name, old["profile"]["pieces"][name]["ms"], piece["ms"])
          for name, piece in new["profile"]["pieces"].items()]
  rows += [(f"full {label} step (scan)", old["profile"][key],
            new["profile"][key])
           for label, key in (("DIW-GAN", "step_ms"), ("GAN", "gan_step_ms"))]
  for name, a, b in rows:
    lines.append(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.2f}x |")
  ratio = {when: (d["profile"]["step_ms"] / d["profile"]["gan_step_ms"],
                  d["steps_per_second"]["loop_ratio_to_gan"])
           for when, d in (("before", old), ("after", new))}
  lines += ["", "DIW-GAN's step over the GAN's: " + "; ".join(
      f"{when} {scan:.2f}x in the benchmark's scan, {loop:.2f}x in the "
      "training loop's first steps" for when, (scan, loop) in ratio.items())
      + f" (`{before}`, `{after}`)."]
  return "\n".join(lines)


def block_step_sitting(data, path=STEP_AVX512):
  return _section_block(path, step_section(data(path), ""))


def accelerator_section(results):
  """One device check (`benchmarks/accelerator.py`) and its GPU targets."""
  device = results["platform"]["device"]
  lines = _header(results, f"Device check on {device} "
                  f"(`benchmarks/accelerator.py`"
                  f"{' --small' if results['small'] else ''})")
  checks = results["matchers"]
  passed = sum(r["ok"] for r in checks)
  lines += [
      f"Correctness: {passed}/{len(checks)} matcher checks passed (auction, "
      "Jacobi auction, optax Hungarian, scipy via the host callback; n up to "
      f"{max(r['n'] for r in checks)}; ties, wide range, rank one, "
      "duplicates, rectangular, n = 1, all equal)"
      + (f"; failed: {', '.join(results['failed'])}" if results["failed"]
         else "") + f". KDE vs scipy (float64): max relative error "
      f"{results['kde']['max_rel_error']:.1e} over "
      f"{results['kde']['points']} points. DIW term gradient vs its closed "
      f"form: {results['diw_gradient']['max_abs_error']:.1e}. Compiled CPU "
      f"kernel built: {results['native_kernel']}.", "",
      "| n | auction cold ms | auction warm ms | scipy on host ms | optax "
      "Hungarian ms | auction / scipy | Hungarian / auction |",
      "|--:|--:|--:|--:|--:|--:|--:|"]
  for r in results["matching_ms"]:
    hungarian = r.get("hungarian_ms")
    lines.append(
        f"| {r['n']} | {r['auction_cold_ms']:.2f} | "
        f"{r['auction_warm_ms']:.2f} | {r['scipy_host_ms']:.2f} | "
        + ("-" if hungarian is None else f"{hungarian:.1f}") + " | "
        f"{r['auction_over_scipy']:.2f} | "
        + ("-" if hungarian is None else f"{r['hungarian_over_auction']:.1f}")
        + " |")
  steps, ring = results["steps"], results["ring"]
  lines += [
      "", f"Steps: GAN {steps['gan_step_ms']:.3f} ms, DIW-GAN "
      f"{steps['diwgan_step_ms']:.3f} ms ({steps['diwgan_over_gan']:.1f}x); "
      f"{steps['vmapped_seeds']} vmapped DIW-GAN seeds: "
      f"{steps['vmapped_run_steps_per_sec']:.0f} run-steps/s"
      + (f"; data-parallel DIW-GAN step on {steps['devices']} device(s): "
         f"{steps['data_parallel_step_ms']:.3f} ms"
         if "data_parallel_step_ms" in steps else "")
      + f". Ring, {ring['steps']} steps: {ring['modes']} modes, HQS "
      f"{100 * ring['hqs']:.1f}%, JSD {ring['jsd']:.3f} "
      f"({ring['seconds']:.0f} s).", ""]
  if not results["small"]:
    at512 = next((r for r in results["matching_ms"] if r["n"] == 512), None)
    if at512 is not None:
      lines += [
          "| target (one data-centre GPU) | measured | status |",
          "|---|---|---|",
          f"| auction n=512 cold <= 0.5x scipy on the host | "
          f"{at512['auction_over_scipy']:.2f}x | "
          f"{_status(at512['auction_over_scipy'] <= 0.5)} |",
          "| auction >= 20x faster than optax's Hungarian | "
          + (f"{at512['hungarian_over_auction']:.1f}x | "
             f"{_status(at512['hungarian_over_auction'] >= 20)} |"
             if "hungarian_over_auction" in at512 else "- | not measured |"),
          f"| 10 vmapped DIW-GAN seeds >= 1,000 run-steps/s | "
          f"{steps['vmapped_run_steps_per_sec']:.0f} | "
          f"{_status(steps['vmapped_run_steps_per_sec'] >= 1000)} |",
          f"| single-seed DIW-GAN step <= 10x the GAN step | "
          f"{steps['diwgan_over_gan']:.1f}x | "
          f"{_status(steps['diwgan_over_gan'] <= 10)} |", ""]
  return lines


def scale_section(results):
  """Steps/s over (emulated) devices and over vmapped seeds."""
  lines = _header(results, "Scale (`benchmarks/scale.py`)")
  config = results["config"]
  emulated = results["platform"].get("emulated_devices", False)
  lines += [
      f"DIW-GAN (auction) on the ring, global batch {config['batch_size']}, "
      f"{config['steps_per_chunk']}-step chunks, median of "
      f"{config['repeats']}."
      + (" The devices are emulated on the CPU's cores; every device "
         "computes the whole B x B distances and KDE weights (the matching "
         "is solved on the first device and broadcast): this measures the "
         "batch-sharded path's overhead, not a speed-up." if emulated
         else ""), "",
      "| devices | steps/s | vs 1 device | first call, compile included (s) |",
      "|--:|--:|--:|--:|"]
  base = results["devices"][0]["steps_per_sec"]
  for row in results["devices"]:
    lines.append(
        f"| {row['devices']} | {row['steps_per_sec']:.1f} | "
        f"{row['steps_per_sec'] / base:.2f}x | "
        f"{row['first_call_seconds']:.1f} |")
  seeds = results["seeds"]
  num = config["num_seeds"]
  lines += [
      "", f"Plain GAN on 1 device: "
      f"{results['gan_one_device_steps_per_sec']:.1f} steps/s.", "",
      f"| runs | steps/s | run-steps/s | wall of {num} runs x "
      f"{config['steps_per_chunk']} steps (s) |",
      "|--:|--:|--:|--:|",
      f"| 1 ({num} one after the other) | "
      f"{seeds['one_run_steps_per_sec']:.1f} | "
      f"{seeds['one_run_steps_per_sec']:.1f} | "
      f"{seeds['sequential_wall_seconds']:.2f} |",
      f"| {num} vmapped | {seeds['vmapped_steps_per_sec']:.2f} | "
      f"{seeds['vmapped_run_steps_per_sec']:.1f} | "
      f"{seeds['vmapped_wall_seconds']:.2f} |", ""]
  if results.get("seed_sharded"):
    base = results["seed_sharded"][0]["run_steps_per_sec"]
    lines += [f"The {num} seeds split over the devices (`--parallelism=seeds`, "
              "each device trains whole seeds):", "",
              "| devices | seeds per device | run-steps/s | vs 1 device |",
              "|--:|--:|--:|--:|"]
    for row in results["seed_sharded"]:
      lines.append(
          f"| {row['devices']} | {row['seeds_per_device']} | "
          f"{row['run_steps_per_sec']:.1f} | "
          f"{row['run_steps_per_sec'] / base:.2f}x |")
    lines.append("")
  return lines


def targets(assignment, kde, step, scale=None, accelerators=()):
  """The CPU targets, checked against the measurements."""
  lines = ["### Targets", "",
           "| target | measured | status |", "|---|---|---|"]
  if assignment:
    row = next((r for r in assignment["cold"] if r["n"] == 512), None)
    if row:
      status = _timing_status(
          row["ratio_auction_scipy"] <= 2.0,
          row["cpu_ratio_auction_scipy"] <= 2.0,
          row["auction"]["max_relative_gap"] <= 1e-4)
      lines.append(
          f"| 1. cold auction n=512 <= 2x scipy, gap <= 1e-4 | "
          f"{row['ratio_auction_scipy']:.2f}x wall "
          f"({row['cpu_ratio_auction_scipy']:.2f}x CPU), gap "
          f"{row['auction']['max_relative_gap']:.1e} | {status} |")
    for r in assignment.get("recorded", []):
      c, w = r["auction_cold"], r["auction_warm"]
      # Judged on the call training makes (cold); warm shown beside.
      quality = all(x["all_converged"] and x["max_gap_over_bound"] <= 1.0
                    for x in (c, w))
      status = _timing_status(r["ratio_cold_scipy"] <= 1.0,
                              r["cpu_ratio_cold_scipy"] <= 1.0, quality)
      lines.append(
          f"| 2. auction on recorded training costs (steps "
          f"{r['phase_start']}..) <= scipy, all converged, gap <= bound | "
          f"as DIW-GAN calls it (cold) {r['ratio_cold_scipy']:.2f}x wall "
          f"({r['cpu_ratio_cold_scipy']:.2f}x CPU); warm-started from the "
          f"previous prices {r['ratio_warm_scipy']:.2f}x wall "
          f"({r['cpu_ratio_warm_scipy']:.2f}x CPU); all converged "
          f"{c['all_converged'] and w['all_converged']}, gap/bound <= "
          f"{max(c['max_gap_over_bound'], w['max_gap_over_bound']):.2f} | "
          f"{status} |")
  if step:
    r = step["steps_per_second"]["rows"]["diwgan"]
    lines.append(
        f"| 3. DIW-GAN step <= 3x GAN step (B=512, scan) | "
        f"{r['ratio_to_gan']:.2f}x wall ({r['cpu_ratio_to_gan']:.2f}x CPU) | "
        f"{_timing_status(r['ratio_to_gan'] <= 3.0, r['cpu_ratio_to_gan'] <= 3.0)} |")
  if kde:
    ratio = kde.get("temp_memory_ratio_vs_jax_scipy")
    ok = (kde["speedup_vs_scipy"] >= 5 and ratio is not None and ratio <= 0.25
          and kde["diwgan"]["max_rel_error"] <= 1e-4)
    lines.append(
        f"| 4. KDE >= 5x scipy, memory <= 1/4 jax.scipy, rel. error <= 1e-4 "
        f"| {kde['speedup_vs_scipy']:.1f}x, memory "
        + ("n/a" if ratio is None else f"{ratio:.3f}x")
        + f", error {kde['diwgan']['max_rel_error']:.1e} | {_status(ok)}"
        + (" (on a busy machine: see its section)" if _busy_flag(kde) else "")
        + " |")
  full_checks = [r for r in accelerators if not r.get("small")]
  if full_checks:
    devices = ", ".join(r["platform"]["device"] for r in full_checks)
    lines.append(f"| 5. GPU targets | device check on {devices} | see its "
                 "section below |")
  else:
    lines.append("| 5. GPU targets | no full device check committed "
                 "(`benchmarks/results/accelerator_*.json`) | not measured |")
  if step:
    rows = step["steps_per_second"]["rows"]
    pieces = step["profile"]["pieces"]
    gan_cpu = rows["gan"]["cpu_step_ms"]
    lines_note = (
        f"Target 3 on this CPU: the matching alone takes "
        f"{pieces['auction']['cpu_ms']:.1f} CPU ms = "
        f"{pieces['auction']['cpu_ms'] / gan_cpu:.1f}x a whole GAN step "
        f"({gan_cpu:.1f} CPU ms), and the KDE weights "
        f"{pieces['KDE weights (w_g, w_r)']['cpu_ms']:.1f} CPU ms; with "
        f"scipy's exact solver instead the step is "
        f"{rows['diwgan_scipy']['ratio_to_gan']:.1f}x the GAN step"
        + (f", with the auction's pure-JAX loop "
           f"{rows['diwgan_jax_loop']['ratio_to_gan']:.1f}x"
           if "diwgan_jax_loop" in rows else "") + ".")
  else:
    lines_note = None
  curves = [name for name, present in (
      ("matching time vs n", bool(assignment)),
      ("step time vs batch", bool(step and step.get("step_vs_batch"))),
      ("steps/s vs devices and seeds", bool(scale))) if present]
  lines.append(
      "| 6. scaling curves (matching vs n, step vs batch, devices and "
      "seeds) | " + (", ".join(curves) if curves else "none") + " | "
      + ("met" if len(curves) == 3 else
         "**not met**" if curves else "not measured") + " |")
  lines.append("")
  if lines_note:
    lines += [lines_note, ""]
  return lines


def render(assignment, kde, step, figures_rel, scale=None,
           time_to_quality=None, accelerators=()):
  lines = [
      "Rendered by `python -m benchmarks.summary` from "
      "`benchmarks/results/*.json`; definitions in `docs/benchmarks.md`. "
      "The machine is shared: every table gives wall-clock and process-CPU "
      "times, measured side by side (interleaved) within one run, and the "
      "load average during the run. Compare ratios, not absolute times.", ""]
  lines += targets(assignment, kde, step, scale, accelerators)
  if time_to_quality:
    lines += time_to_quality_section(time_to_quality)
  if assignment:
    lines += assignment_section(assignment, figures_rel)
  if step:
    lines += step_section(step, figures_rel)
  if kde:
    lines += kde_section(kde)
  if scale:
    lines += scale_section(scale)
  for results in accelerators:
    lines += accelerator_section(results)
  return "\n".join(lines).rstrip() + "\n"


def replace_region(text, body):
  if BEGIN not in text or END not in text:
    raise ValueError(f"Markers {BEGIN} / {END} not found.")
  head, rest = text.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  return head + BEGIN + "\n" + body + END + tail


INCLUDE = re.compile(
    r"(<!-- include: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end include -->)",
    re.DOTALL)


def refresh_includes(text: str, root: str = ".") -> str:
  """Replaces each `<!-- include: <path> -->` block by that file's content.

  The comparison tables in docs/RESULTS.md are the harness's own
  `table.md` files (written from their `results.json`), included verbatim
  but with every heading three levels down so that they nest under a
  RESULTS subsection.
  """
  def body(match):
    with open(os.path.join(root, match.group("path"))) as f:
      lines = f.read().splitlines()
    lines = ["###" + line if line.startswith("#") else line for line in lines]
    return match.group(1) + "\n".join(lines) + "\n" + match.group(4)
  return INCLUDE.sub(body, text)



# --- Generated prose blocks ---------------------------------------------------
#
# `<!-- generated: <name> -->` ... `<!-- end generated -->` in README.md and
# docs/*.md: every measured number quoted in prose sits in such a block,
# written by `BLOCKS[name]` from the committed JSON (tests/test_docs.py
# checks that each block is what its function makes of the data).

GENERATED = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(<!-- end generated -->)", re.DOTALL)

TABLE1 = "docs/results/table1_full/results.json"
# Table 1's cells whose per-set learning-rate pick differs from the ring's
# (`experiments.registry.PER_SET_LEARNING_RATES`), re-run at that pick: a
# harness results.json, or (results.json, methods) where only those
# methods' runs in it are at today's picks (the cube's 4,000-step PacGAN
# pick, re-run there, gave way to the full-length tuning's, the ring's).
TABLE1_PER_SET_RERUNS = (
    "docs/results/table1_ring_full_tuned/results.json",
    "docs/results/table1_grid_full_tuned/results.json",
    ("docs/results/table1_grid_per_set/results.json", ("unrolled",)),
    "docs/results/table1_random_grid_full_tuned/results.json",
    ("docs/results/table1_random_grid_per_set/results.json", ("gan",)),
    ("docs/results/table1_cube_per_set/results.json", ("bms_vae_gan",)),
    "docs/results/table1_cube_full_tuned/results.json")
UNROLLED_REPRODUCTION = (
    "docs/results/reproduction/diwgan/unrolled_minimax/results.json")
EQUAL_TIME = "docs/results/equal_time/results.json"
# The equal-time cells whose per-set pick differs from the ring's, re-run.
EQUAL_TIME_PER_SET_RERUNS = (
    "docs/results/equal_time_ring_full_tuned/results.json",
    "docs/results/equal_time_grid_full_tuned/results.json",
    ("docs/results/equal_time_grid_per_set/results.json", ("unrolled",)))
ABLATIONS = "docs/results/ablations_full/results.json"
METHOD_STEPS = "benchmarks/results/method_steps.json"
IMAGE_METHOD_STEPS = "benchmarks/results/method_steps_stacked_digits.json"
ABLATION_STEPS = "benchmarks/results/method_steps_ablations.json"
BMS_DIAGNOSIS = "benchmarks/results/bms_diagnosis.json"
# PacGAN2 on the grid in PacGAN's protocol, continued to 100,000 steps.
PACGAN_GRID_100K = "docs/results/reproduction/pacgan_grid_100k/results.json"
# BMS-VAE-GAN on the ring at its tuned rates held constant, 30,000 steps.
BMS_CONSTANT_RATE = "docs/results/bms_ring_constant_30k/results.json"
BMS_CONSTANT_RATE_GRID = "docs/results/bms_grid_constant_20k/results.json"
# BMS-VAE-GAN in PacGAN's protocol with the BMS paper's 32-d latent space.
BMS_PACGAN_PROTOCOL = "docs/results/reproduction/bms_pacgan_z32/results.json"
# BMS-VAE-GAN in VEEGAN's preset (the architecture its paper names, with its
# 32-d latent space), 3 seeds.
BMS_VEEGAN_PROTOCOL = "docs/results/reproduction/veegan_bms/results.json"
# The same without spectral norm on D_I (one seed): the diagnosis.
BMS_VEEGAN_SN_OFF = "docs/results/reproduction/veegan_bms_sn_off/results.json"
# The same protocol on the grid, one setting changed, read at step 10,000.
BMS_PACGAN_VARIANTS = (
    ("the defaults (T = 10, weights 1 / 1 / 1, spectral norm)",
     BMS_PACGAN_PROTOCOL),
    ("reconstruction and prior weights 0 (D_I alone)",
     "docs/results/reproduction/bms_pacgan_z32_variants/synthetic_only/"
     "results.json"),
    ("D_I without spectral norm",
     "docs/results/reproduction/bms_pacgan_z32_variants/spectral_norm_off/"
     "results.json"),
)
BMS_PACGAN_VARIANT_STEP = 10_000
# PacGAN2 on the grid in PacGAN's protocol to 40,000 steps: the preset's
# networks and step (3 seeds), the plain networks of the one-seed trial
# filed with the reproduction (3 seeds), and the preset with one of its four
# network settings set back to the project's default, or Adam's beta1 read in
# Blocks' old convention (seed 0); then the GAN,
# DIW-GAN and the matched distance alone in the plain networks (3 seeds).
PACGAN_GRID_NETWORKS = (
    ("PacGAN2, the preset (batch norm in G, maxout D, N(0, 0.02^2) init, "
     "simultaneous updates)",
     "docs/results/reproduction/pacgan_40k/results.json", None, "pacgan"),
    ("PacGAN2, plain networks: all four set back",
     "docs/results/reproduction/pacgan_grid_networks/plain/results.json",
     None, "pacgan"),
    ("PacGAN2, the preset, seed 0 alone",
     "docs/results/reproduction/pacgan_40k/results.json", 0, "pacgan"),
    ("PacGAN2, the preset without batch norm in G",
     "docs/results/reproduction/pacgan_grid_networks/generator_batch_norm/"
     "results.json", 0, "pacgan"),
    ("PacGAN2, the preset with a ReLU D (no maxout)",
     "docs/results/reproduction/pacgan_grid_networks/discriminator_maxout/"
     "results.json", 0, "pacgan"),
    ("PacGAN2, the preset at flax's default initialisation",
     "docs/results/reproduction/pacgan_grid_networks/init_std/results.json",
     0, "pacgan"),
    ("PacGAN2, the preset with alternating updates (D, then G against the updated D)",
     "docs/results/reproduction/pacgan_grid_networks/simultaneous_updates/"
     "results.json", 0, "pacgan"),
    ("PacGAN2, the preset with Adam's beta1 at 0.2 (the code's 0.8 read in "
     "Blocks' pre-2017 convention)",
     "docs/results/reproduction/pacgan_grid_networks/adam_b1/results.json",
     0, "pacgan"),
    ("GAN, plain networks",
     "docs/results/reproduction/pacgan_grid_networks/plain_gan/results.json",
     None, "gan"),
    ("DIW-GAN, plain networks",
     "docs/results/reproduction/pacgan_grid_networks/plain_diwgan/"
     "results.json", None, "diwgan"),
    ("the matched distance alone (`diwgan_noweights`), plain networks",
     "docs/results/reproduction/pacgan_grid_networks/plain_diwgan_noweights/"
     "results.json", None, "diwgan_noweights"),
)
PACGAN_GRID_NETWORK_STEPS = (10_000, 20_000, 30_000, 40_000)
# The preset with the two details of PacGAN's code it leaves out by default
# (shared draws, inference-mode batch norm at evaluation), 3 seeds: PacGAN2
# and the GAN (PacGAN with packs of one), both to 100,000 steps, beside the
# preset's own runs.
GAN_GRID_40K = "docs/results/reproduction/gan_grid_40k/results.json"
CODE_DRAWS_PACGAN = ("docs/results/reproduction/pacgan_code_draws/"
                     "pacgan_grid_100k/results.json")
CODE_DRAWS_GAN = ("docs/results/reproduction/pacgan_code_draws/"
                  "gan_grid_100k/results.json")
CODE_DRAWS_LABEL = ("with the code's shared draws and inference-mode batch "
                    "norm at evaluation")
CODE_DRAWS_RUNS = (PACGAN_GRID_100K, CODE_DRAWS_PACGAN, GAN_GRID_40K,
                   CODE_DRAWS_GAN)
CODE_DRAWS_LATE = (PACGAN_GRID_100K, CODE_DRAWS_PACGAN, CODE_DRAWS_GAN)
# The same PacGAN2 runs continued at their constant rate to 200,000 steps.
CODE_DRAWS_PACGAN_200K = ("docs/results/reproduction/pacgan_code_draws/"
                          "pacgan_grid_200k/results.json")
# And on to the code's full length, 400,000 steps.
CODE_DRAWS_PACGAN_400K = ("docs/results/reproduction/pacgan_code_draws/"
                          "pacgan_grid_400k/results.json")
CODE_DRAWS_LABELS = {
    PACGAN_GRID_100K: "PacGAN2, the preset",
    CODE_DRAWS_PACGAN: f"PacGAN2, the preset {CODE_DRAWS_LABEL}",
    GAN_GRID_40K: "GAN, the preset",
    CODE_DRAWS_PACGAN_200K: (f"PacGAN2, the preset {CODE_DRAWS_LABEL}, "
                             "to 200,000 steps"),
    CODE_DRAWS_PACGAN_400K: (f"PacGAN2, the preset {CODE_DRAWS_LABEL}, "
                             "to 400,000 steps"),
    CODE_DRAWS_GAN: (f"GAN (PacGAN with packs of one), the preset "
                     f"{CODE_DRAWS_LABEL}"),
}
# BMS-VAE-GAN at 4,000 steps, seed 0, the ring's tuned rates: the defaults
# (from the ring's 4,000-step table and the grid's tuning run at the same
# rates) and one changed setting per variant.
BMS_VARIANTS = (
    ("the defaults", "docs/results/baselines_ring_4000/results.json"),
    ("the defaults", "docs/results/tuning_grid_4000/g1e-4_d1e-3.json"),
    ("D_I without spectral norm",
     "docs/results/bms_variants_4000/spectral_norm_off/results.json"),
    ("synthetic weight 10",
     "docs/results/bms_variants_4000/synthetic_weight_10/results.json"),
    ("32-d noise, T = 30",
     "docs/results/bms_variants_4000/latent32_samples30/results.json"),
    ("T = 50",
     "docs/results/bms_variants_4000/samples50/results.json"),
    ("reconstruction and prior weights 0 (D_I alone: a spectrally "
     "normalised hinge GAN)",
     "docs/results/bms_variants_4000/synthetic_only/results.json"),
)

NAMES = {"gan": "GAN", "unrolled": "Unrolled GAN", "veegan": "VEEGAN",
         "pacgan": "PacGAN", "gne": "GNE", "bms_vae_gan": "BMS-VAE-GAN",
         "diwgan": "DIW-GAN", "diwgan_noweights": "no weights",
         "diwgan_wg": "`w_g` only", "diwgan_wr": "`w_r` only",
         "diwgan_random_match": "random pairing",
         "diwgan_poster": "the poster's loss"}

# The DIW-GAN paper's Table 1, as printed there (experiments/published.py).
PUBLISHED_TABLE1 = published.PUBLISHED["diwgan"]


class Data:
  """Committed JSON files under `root`, each read once."""

  def __init__(self, root="."):
    self.root = root
    self._cache = {}

  def __call__(self, path):
    if path not in self._cache:
      with open(os.path.join(self.root, path)) as f:
        self._cache[path] = json.load(f)
    return self._cache[path]


def _range(values, fmt="{:.0f}"):
  low, high = min(values), max(values)
  if fmt.format(low) == fmt.format(high):
    return fmt.format(low)
  return f"{fmt.format(low)}-{fmt.format(high)}"


def _avx512(platform):
  extensions = platform.get("vector_extensions")
  if extensions is None:
    return "vector extensions not recorded"
  caps = _isa_caps(platform)
  return (f"{extensions}; "
          + ("AVX-512" if "avx512" in extensions else "no AVX-512")
          + (f", capped: {', '.join(caps)}" if caps else ""))


def _load_note(platform):
  """The 1-minute load at the start, flagged when it exceeds the cores."""
  load = platform.get("load_average_start", [float("nan")])[0]
  cores = platform.get("cpu_count", 0)
  flag = (f" (**busy: more than the {cores} cores**)"
          if cores and load > cores else "")
  return f"load {load:.1f}{flag}"


def cells(results):
  """(data set, method) -> the finished runs of a harness `results.json`."""
  out = {}
  for run in results["runs"]:
    if run.get("status") == "done":
      out.setdefault((run["dataset"], run["method"]), []).append(run)
  return out


def _stats(runs):
  hqs = [100 * r["hqs"] for r in runs]
  hqs_mean, hqs_std = report.mean_std(hqs)
  return {
      "seeds": len(runs), "modes": [r["modes"] for r in runs],
      "strict": [r["strict_modes"] for r in runs], "hqs": hqs,
      "hqs_mean": hqs_mean, "hqs_std": hqs_std,
      "jsd_mean": report.mean_std([r["jsd"] for r in runs])[0],
      "bar": [r for r in runs if r.get("steps_to_quality") is not None],
      "steps": runs[0]["num_steps"]}


def _method_line(name, s, num_modes):
  modes = _range(s["modes"])
  return (f"{NAMES.get(name, name)} {modes} of {num_modes} modes, HQS "
          f"{s['hqs_mean']:.1f}% (std {s['hqs_std']:.1f}), JSD "
          f"{s['jsd_mean']:.3f}")


def _reading(results, dataset, methods, budget=None):
  """Per data set: the methods with every mode in every seed, by HQS; the rest."""
  num_modes = results["protocol"]["num_modes"][dataset]
  table = cells(results)
  stats = {m: _stats(table[(dataset, m)]) for m in methods
           if (dataset, m) in table}
  full = sorted((m for m in stats if min(stats[m]["modes"]) == num_modes),
                key=lambda m: -stats[m]["hqs_mean"])
  rest = sorted((m for m in stats if m not in full),
                key=lambda m: -sum(stats[m]["modes"]))
  seeds = len(results["protocol"]["seeds"])
  if budget is None:
    steps = sorted({r["num_steps"] for runs in table.values() for r in runs
                    if r["dataset"] == dataset})
    length = " or ".join(f"{n:,}" for n in steps) + " steps"
  else:
    length = budget
  line = (f"- **{dataset}** ({length}, {seeds} seeds). Every mode in every "
          "seed, by mean HQS: ")
  line += ("; ".join(_method_line(m, stats[m], num_modes) for m in full)
           if full else "no method")
  line += ". Fewer modes: " + ("; ".join(
      _method_line(m, stats[m], num_modes) for m in rest) if rest else "none")
  if full:
    best_jsd = min(stats, key=lambda m: stats[m]["jsd_mean"])
    steadiest = min(full, key=lambda m: stats[m]["hqs_std"])
    line += (f". Lowest JSD: {NAMES[best_jsd]}; smallest HQS spread over "
             f"seeds among the methods with every mode: {NAMES[steadiest]}")
  bar = [f"{NAMES[m]} {len(s['bar'])}/{s['seeds']}"
         for m, s in stats.items() if s["bar"]]
  line += (". Quality bar (every mode and HQS >= 80% at an evaluation) "
           "reached in: " + (", ".join(bar) if bar else "no run") + " seeds.")
  return line


def table1_per_set(data):
  """Table 1 at each data set's own learning-rate picks.

  Table 1's runs with every (data set, method) cell of the per-set re-runs
  replaced by those runs: the other cells' per-set picks are the ring's
  picks they already ran at.
  """
  base, reruns = data(TABLE1), rerun_runs(data, TABLE1_PER_SET_RERUNS)
  for path, _ in map(_rerun_entry, TABLE1_PER_SET_RERUNS):
    if data(path)["protocol"]["overrides"] != base["protocol"]["overrides"]:
      raise ValueError(f"{path} and Table 1 differ in overrides: "
                       f"{data(path)['protocol']['overrides']} vs "
                       f"{base['protocol']['overrides']}")
  replaced = {(r["dataset"], r["method"]) for r in reruns}
  runs = ([r for r in base["runs"]
           if (r["dataset"], r["method"]) not in replaced] + reruns)
  order = {(d, m): i for i, (d, m) in enumerate(
      (d, m) for d in base["protocol"]["configs"]
      for m in base["protocol"]["methods"])}
  runs.sort(key=lambda r: (order[(r["dataset"], r["method"])], r["seed"]))
  protocol = dict(base["protocol"], learning_rates="per_set")
  return dict(base, protocol=protocol, runs=runs)


def _rates(runs):
  return " / ".join(_range([r[k] for r in runs], "{:.0e}")
                    for k in ("generator_lr", "discriminator_lr"))


def _rerun_entry(entry):
  """(path, methods or None: every method) of a re-run list's entry."""
  return (entry, None) if isinstance(entry, str) else entry


def rerun_runs(data, entries):
  """Every run of the re-run files `entries` (a path, or a (path, methods)
  pair that keeps those methods' runs only); a (data set, method) cell may
  come from one file only."""
  runs, source = [], {}
  for path, methods in map(_rerun_entry, entries):
    for run in data(path)["runs"]:
      if methods is not None and run["method"] not in methods:
        continue
      key = (run["dataset"], run["method"])
      if source.setdefault(key, path) != path:
        raise ValueError(f"{key} is re-run in both {source[key]} and {path}")
      runs.append(run)
  return runs


def _rerun_cells(data, base_path, reruns_paths):
  """The re-run cells of `reruns_paths` beside the same cells of
  `base_path`."""
  before = cells(data(base_path))
  after = cells({"runs": rerun_runs(data, reruns_paths)})
  num_modes = data(base_path)["protocol"]["num_modes"]
  lines = ["| data set | method | rates (G / D) | seeds | steps | modes "
           "| HQS % | JSD | quality bar reached |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for key in sorted(after):
    for label, table in (
        ("ring's 4,000-step pick", before),
        (f"{key[0].replace('_', ' ')}'s full-length pick", after)):
      runs = table.get(key)
      if not runs:
        continue
      s = _stats(runs)
      lines.append(
          f"| {key[0]} | {NAMES[key[1]]} | {_rates(runs)} ({label}) | "
          f"{s['seeds']} | {s['steps']:,} | {_range(s['modes'])} of "
          f"{num_modes[key[0]]} | {s['hqs_mean']:.1f} ({s['hqs_std']:.1f}) "
          f"| {s['jsd_mean']:.3f} | {len(s['bar'])}/{s['seeds']} |")
  return "\n".join(lines)


# DIW-GAN with `diw.history` = 5 (half the default buffer, so half the KDE
# weights' work), 3 seeds on the ring, the grid and the cube.
DIW_HISTORY5 = "docs/results/diw_history5/results.json"
DIW_CHEAPER_STEP = "docs/results/diw_cheaper_step/results.json"


def block_diw_beside_table1(data, path=DIW_HISTORY5, column="history",
                            labels=("10 (Table 1)", "5")):
  """DIW-GAN's cells of the runs in `path` beside Table 1's, per seed:
  modes / HQS % / steps to the bar (`labels`: Table 1's row, then theirs,
  in the `column` column)."""
  before, after = cells(data(TABLE1)), cells(data(path))
  num_modes = data(TABLE1)["protocol"]["num_modes"]
  lines = _diw_cells_header(column)
  for dataset in data(path)["protocol"]["configs"]:
    for label, table in zip(labels, (before, after)):
      lines.append(_diw_cells_row(dataset, label, table[dataset, "diwgan"],
                                  num_modes[dataset]))
  return "\n".join(lines)


def _diw_cells_header(column):
  return [f"| data set | {column} | seeds | modes | HQS % | JSD | bar reached "
          "| per seed: modes / HQS % / steps to the bar |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]


def _diw_cells_row(dataset, label, runs, num_modes):
  """One set's DIW-GAN runs: modes, HQS, JSD, the bar, then per seed."""
  runs = sorted(runs, key=lambda r: r["seed"])
  st = _stats(runs)
  seeds = ", ".join(
      f"{r['modes']:g} / {100 * r['hqs']:.1f} / "
      + (f"{r['steps_to_quality']:,}" if r["steps_to_quality"] else "-")
      for r in runs)
  return (f"| {dataset} | {label} | {st['seeds']} | {_range(st['modes'])} of "
          f"{num_modes} | {st['hqs_mean']:.1f} ({st['hqs_std']:.1f}) | "
          f"{st['jsd_mean']:.3f} | {len(st['bar'])}/{st['seeds']} | {seeds} |")


# Fewer steps to the bar on the ring: one setting changed at a time from
# the defaults (DIW_CHEAPER_STEP's ring runs), 3 vmapped seeds each.
RING_STEP_LEVERS = (
    ("defaults", DIW_CHEAPER_STEP),
    ("diw.alpha = 2", "docs/results/ring_step_levers/alpha2/results.json"),
    ("diw.alpha = 4", "docs/results/ring_step_levers/alpha4/results.json"),
    ("generator lr 2e-3",
     "docs/results/ring_step_levers/glr2e-3/results.json"),
    ("final lr fraction 0.01",
     "docs/results/ring_step_levers/final001/results.json"),
)


def block_ring_step_levers(data, levers=RING_STEP_LEVERS):
  lines = _diw_cells_header("setting")
  for label, path in levers:
    results = data(path)
    lines.append(_diw_cells_row(
        "ring", label, cells(results)["ring", "diwgan"],
        results["protocol"]["num_modes"]["ring"]))
  return "\n".join(lines)


def block_table1_per_set_cells(data):
  """Table 1's re-run cells beside the same cells at the ring's picks."""
  return _rerun_cells(data, TABLE1, TABLE1_PER_SET_RERUNS)


def block_equal_time_per_set_cells(data):
  """The equal-time table's re-run cells beside the ring-pick cells."""
  return _rerun_cells(data, EQUAL_TIME, EQUAL_TIME_PER_SET_RERUNS)


def block_table1_per_set_reading(data):
  """The grid's reading of Table 1 with the re-run cells in place."""
  results = table1_per_set(data)
  datasets = sorted({r["dataset"] for r in rerun_runs(
      data, TABLE1_PER_SET_RERUNS)}, key=results["protocol"]["configs"].index)
  return "\n".join(_reading(results, d, results["protocol"]["methods"])
                   for d in datasets)


def block_table1_reading(data):
  results = data(TABLE1)
  methods = results["protocol"]["methods"]
  return "\n".join(_reading(results, d, methods)
                   for d in results["protocol"]["configs"])


def block_published_table1(data):
  del data
  lines = ["| data set | metric | Unrolled GAN | VEEGAN | DIW-GAN |",
           "| --- | --- | --- | --- | --- |"]
  methods = ("unrolled", "veegan", "diwgan")
  for dataset in dict.fromkeys(d for d, _ in PUBLISHED_TABLE1):
    row = {m: PUBLISHED_TABLE1[(dataset, m)] for m in methods}
    maximum = row["diwgan"]["modes"]
    lines.append(f"| {dataset.replace('_', ' ')} | modes (max {maximum}) | "
                 + " | ".join(f"{row[m]['modes']:g} ({row[m]['modes_err']:g})"
                              for m in methods) + " |")
    lines.append("|  | HQS % | " + " | ".join(
        f"{row[m]['hqs']:g}" for m in methods) + " |")
    lines.append("|  | JSD | " + " | ".join(
        f"{row[m]['jsd']:g}" for m in methods) + " |")
  return "\n".join(lines)


def _beside_diwgan_paper(results):
  """`results`' runs beside the DIW-GAN paper's rows, and where the bar is
  met per method."""
  table = report.reproduction_table(results, preset="diwgan",
                                    only_published=True)
  # Without its "## Beside ..." heading: the page's own heading says it.
  table = table.strip().split("\n", 2)[2]
  verdicts = {}
  for line in table.splitlines():
    cells = [c.strip() for c in line.strip("|").split("|")]
    if len(cells) == 10 and cells[-1] in ("met", "**missed**"):
      verdicts.setdefault(cells[1], []).append(cells[-1] == "met")
  reading = "; ".join(
      f"{NAMES.get(m, m)} {sum(v)} of {len(v)}" for m, v in verdicts.items())
  return f"{table}\n\nData sets where the bar is met: {reading}."


def block_reproduction_diwgan(data):
  """Table 1's runs beside the DIW-GAN paper's rows (its protocol is ours)."""
  return _beside_diwgan_paper(data(TABLE1))


def block_reproduction_unrolled(data):
  """The Unrolled GAN at its notebook's settings beside the same rows."""
  return _beside_diwgan_paper(data(UNROLLED_REPRODUCTION))


def _config_flag(results):
  return "" if results["config"] == "ring" else f" --config={results['config']}"


def block_step_costs(data, path=METHOD_STEPS):
  """A `benchmarks.method_steps` result as a table, with its machine."""
  results = data(path)
  p = results["platform"]
  cpu = (f"{p['cpu_model']} ({p['vector_extensions']}), "
         if "vector_extensions" in p else "")
  lines = [
      f"`python -m benchmarks.method_steps{_config_flag(results)}` "
      f"({results['config']}, batch "
      f"{results['batch_size']}, {results['rounds']} rounds of "
      f"{results['chunk']} steps interleaved, compilation excluded; "
      f"{p.get('date', '?')[:16].replace('T', ' ')} UTC, {cpu}"
      f"{p.get('cpu_count', '?')} cores, {_load_note(p)}; "
      f"`{path}`):", "",
      "| method | ms / step (wall) | ms / step (process CPU) | x GAN (wall) "
      "| x GAN (CPU) |", "| --- | --- | --- | --- | --- |"]
  rows = sorted(results["methods"].items(),
                key=lambda item: item[1]["ratio_to_gan_wall"])
  for name, r in rows:
    lines.append(
        f"| {name} | {r['ms_per_step_wall']:.2f} | {r['ms_per_step_cpu']:.2f}"
        f" | {r['ratio_to_gan_wall']:.2f} | {r['ratio_to_gan_cpu']:.2f} |")
  return "\n".join(lines)


def _seconds_at(run, step):
  for point in run["curve"]:
    if point["step"] == step:
      return point["seconds"]
  return None


def _set_stats(results, table, dataset):
  """{method: _stats} of one data set's finished cells, in table order."""
  return {m: _stats(table[(dataset, m)]) for m in results["protocol"][
      "methods"] if (dataset, m) in table}


def _bar_seconds(bar_runs, ms_per_step):
  """Seconds to the bar of the runs that reached it: (computed = steps x
  the idle ms per step, measured = the run's own training clock)."""
  computed = [r["steps_to_quality"] * ms_per_step / 1000 for r in bar_runs]
  measured = [x for x in (_seconds_at(r, r["steps_to_quality"])
                          for r in bar_runs) if x is not None]
  return computed, measured


def block_equal_time_reading(data):
  results = data(EQUAL_TIME)
  equal = results["protocol"]["equal_time"]
  table = cells(results)
  lines = []
  for dataset in results["protocol"]["configs"]:
    stats = _set_stats(results, table, dataset)
    lines.append(_reading(
        results, dataset, list(stats),
        budget=f"{equal['budget_seconds'][dataset]:.0f} s of training per "
        "run at the idle step costs"))
    for m, s in stats.items():
      if not s["bar"]:
        continue
      cost = equal["ms_per_step"][m]
      computed, measured = _bar_seconds(s["bar"], cost)
      lines.append(
          f"  - {NAMES[m]} reaches the bar in {len(s['bar'])} of "
          f"{s['seeds']} seeds, after {_range([r['steps_to_quality'] for r in s['bar']], '{:,.0f}')}"
          f" steps: {_range(computed)} s *computed* (those steps x "
          f"{cost:.2f} ms, the idle step cost), {_range(measured)} s of the "
          "run's own *measured* training clock (two runs at a time), "
          f"{_range([r['seconds_to_quality'] for r in s['bar']])} s measured "
          "from its process start.")
  return "\n".join(lines)


def block_ablation_reading(data):
  results = data(ABLATIONS)
  table = cells(results)
  lines = []
  for dataset in results["protocol"]["configs"]:
    full = _stats(table[(dataset, "diwgan")])
    none = _stats(table[(dataset, "diwgan_noweights")])
    diff = none["hqs_mean"] - full["hqs_mean"]
    larger = max(full["hqs_std"], none["hqs_std"])
    if abs(diff) > larger:
      verdict = f"more than the larger std ({larger:.1f})"
    else:
      verdict = (f"within the larger std ({larger:.1f}): not resolved by "
                 f"{none['seeds']} seeds")
    lines.append(
        f"- {dataset}: no weights {none['hqs_mean']:.1f}% (std "
        f"{none['hqs_std']:.1f}) against both weights {full['hqs_mean']:.1f}%"
        f" (std {full['hqs_std']:.1f}), a difference of {diff:+.1f} points, "
        f"{verdict}; JSD {none['jsd_mean']:.3f} against "
        f"{full['jsd_mean']:.3f}.")
  costs = data(ABLATION_STEPS)
  p = costs["platform"]
  both = costs["methods"]["diwgan"]["ms_per_step_wall"]
  bare = costs["methods"]["diwgan_noweights"]["ms_per_step_wall"]
  lines.append(
      f"- Step cost (`benchmarks/results/method_steps_ablations.json`, "
      f"{p['date'][:10]}, {_load_note(p)}): {both:.2f} ms with both weights,"
      f" {bare:.2f} ms without, {both / bare:.2f}x.")
  for name in ("diwgan_random_match", "diwgan_poster"):
    parts = []
    for dataset in results["protocol"]["configs"]:
      s = _stats(table[(dataset, name)])
      parts.append(f"{dataset} {_range(s['modes'])} of "
                   f"{results['protocol']['num_modes'][dataset]} modes, HQS "
                   f"{s['hqs_mean']:.1f}%")
    lines.append(f"- {NAMES[name].capitalize()}: " + "; ".join(parts) + ".")
  return "\n".join(lines)


def block_machine(data):
  """Which machine and load each committed benchmark JSON was measured on."""
  lines = ["| results file | date (UTC) | CPU | cores | vector extensions | "
           "JAX | load at the start |", "| --- | --- | --- | --- | --- | --- "
           "| --- |"]
  folder = os.path.join(data.root, "benchmarks", "results")
  for name in sorted(os.listdir(folder)):
    if not name.endswith(".json"):
      continue
    p = data(f"benchmarks/results/{name}").get("platform")
    if p is None:
      continue
    lines.append(
        f"| `{name}` | {p.get('date', '?')[:16].replace('T', ' ')} | "
        f"{p.get('cpu_model', 'not recorded')} | {p.get('cpu_count', '?')} | "
        f"{_avx512(p)} | {p.get('jax', '?')} ({p.get('backend', '?')}) | "
        f"{_load_note(p)} |")
  return "\n".join(lines)


# The README's sittings of its command: (results file, setting tag, note).
QUICKSTART_SITTINGS = (
    ("benchmarks/results/time_to_quality.json", "defaults",
     ", before the step was made cheaper (docs/RESULTS.md, \"A cheaper step"
     " on the same CPU\")"),
    (TIME_TO_QUALITY_ZEN5, "cache_cold",
     ": a first run, which fills the compilation cache"),
    (TIME_TO_QUALITY_ZEN5, "cache_warm",
     ": later runs, their programs loaded from the compilation cache"),
)


def block_quickstart(data):
  """The README command's time, from the time-to-quality sittings."""
  lines = []
  previous = None
  for path, tag, note in QUICKSTART_SITTINGS:
    results = data(path)
    runs = [r for r in results["runs"] if r.get("tag") == tag
            and r["config"] == "ring" and r["method"] == "diwgan"
            and "error" not in r]
    reached = [r for r in runs if r["seconds_to_quality"] is not None]
    p = results["platform"]
    machine = ("On the same CPU" if path == previous else
               f"On a {p['cpu_count']}-core {p.get('cpu_model', 'CPU')} "
               f"({_avx512(p)})")
    previous = path
    lines.append(
        f"{machine}, one run at a time, the command took "
        f"{_range([r['wall_seconds'] for r in runs])} s end to end and "
        f"reached all {runs[0]['modes']} modes with HQS >= 80% after "
        f"{_range([r['seconds_to_quality'] for r in reached])} s in "
        f"{len(reached)} of {len(runs)} seeds (final HQS "
        f"{_range([100 * r['hqs'] for r in runs], '{:.1f}')}%; "
        f"`{path}`, setting `{tag}`){note}.")
  return "\n\n".join(lines)


def block_readme_findings(data):
  t1 = table1_per_set(data)
  table = cells(t1)
  lines = []
  leads = []
  for dataset in t1["protocol"]["configs"]:
    n = t1["protocol"]["num_modes"][dataset]
    stats = _set_stats(t1, table, dataset)
    if "diwgan" not in stats:
      continue
    best = max(stats, key=lambda m: stats[m]["hqs_mean"]
               if min(stats[m]["modes"]) >= n - 1 else -1)
    leads.append(
        f"{dataset}: {NAMES[best]} (HQS {stats[best]['hqs_mean']:.1f}%, "
        f"JSD {stats[best]['jsd_mean']:.3f}"
        + ("" if best == "diwgan" else
           f"; DIW-GAN {stats['diwgan']['hqs_mean']:.1f}%, "
           f"{stats['diwgan']['jsd_mean']:.3f}") + ")")
  untuned = [d for d in t1["protocol"]["configs"]
             if d != "ring" and d not in registry.PER_SET_LEARNING_RATES]
  tuned = [d for d in t1["protocol"]["configs"] if d not in untuned]
  proxy = [d for d in tuned
           if registry.PER_SET_TUNING_RUNS.get(d, ((), 4000))[1] == 4000]
  name = lambda sets: _and_join("the " + d.replace("_", " ") for d in sets)
  lines.append(
      "- At equal steps (each method at its learning rates tuned on the "
      "set" + (" at the set's full length" if not proxy else
               f" with a 4,000-step proxy on {name(proxy)}, at full length "
               f"on the others" if len(proxy) < len(tuned) else
               " with a 4,000-step proxy")
      + (f"; on the ring's for {', '.join(untuned)}" if untuned else "")
      + "), the method with the highest mean HQS among those that keep "
      "every mode (or all but one) in every seed: "
      + "; ".join(leads) + ".")
  et = data(EQUAL_TIME)
  equal = et["protocol"]["equal_time"]
  table = cells(et)
  parts = []
  for dataset in et["protocol"]["configs"]:
    n = et["protocol"]["num_modes"][dataset]
    stats = _set_stats(et, table, dataset)
    allm = [NAMES[m] for m, s in stats.items() if min(s["modes"]) == n]
    bar = []
    for m, s in stats.items():
      if not s["bar"]:
        continue
      computed, measured = _bar_seconds(s["bar"], equal["ms_per_step"][m])
      bar.append(f"{NAMES[m]} in {len(s['bar'])}/{s['seeds']} seeds after "
                 f"{_range(computed)} s computed ({_range(measured)} s "
                 "measured)")
    parts.append(f"{dataset} ({equal['budget_seconds'][dataset]:.0f} s): "
                 f"every mode in every seed: {', '.join(allm) or 'none'}; "
                 f"the quality bar: {', '.join(bar) or 'none'}")
  lines.append(
      "- At equal training seconds (each method's steps = DIW-GAN's seconds "
      "/ its idle step cost; *computed* = steps to the bar x the idle step "
      "cost, *measured* = the run's own training clock, two runs at a "
      "time): " + "; ".join(parts) + ".")
  ab = data(ABLATIONS)
  table = cells(ab)
  diffs = []
  helps = False
  loses = []
  for dataset in ab["protocol"]["configs"]:
    full = _stats(table[(dataset, "diwgan")])
    none = _stats(table[(dataset, "diwgan_noweights")])
    helps |= full["hqs_mean"] > none["hqs_mean"]
    if (dataset, "diwgan_random_match") in table:
      random_modes = _stats(table[(dataset, "diwgan_random_match")])["modes"]
      loses.append(min(random_modes) < ab["protocol"]["num_modes"][dataset])
    diff = none["hqs_mean"] - full["hqs_mean"]
    inside = abs(diff) <= max(full["hqs_std"], none["hqs_std"])
    diffs.append(f"{dataset} {diff:+.1f}"
                 + (" (within the seed std)" if inside else ""))
  costs = data(ABLATION_STEPS)["methods"]
  ratio = (costs["diwgan"]["ms_per_step_wall"]
           / costs["diwgan_noweights"]["ms_per_step_wall"])
  lines.append(
      "- The two importance weights "
      + ("help on some of these sets" if helps
         else "do not help on these sets")
      + ": the matched distance alone (`--method=diwgan_noweights`) against "
      f"full DIW-GAN, HQS points: {', '.join(diffs)}; its step is "
      f"{ratio:.2f}x cheaper."
      + (" Random pairing loses modes on every set: the optimal matching is "
         "what does the work." if loses and all(loses) else ""))
  return "\n".join(lines)


def _curve_values(runs, step, key, scale=1):
  """Each run's evaluation `key` at `step`, times `scale`."""
  return [scale * next(p[key] for p in r["curve"] if p["step"] == step)
          for r in runs]


def block_bms_variants(data):
  """BMS-VAE-GAN's 4,000-step outcome under one changed setting at a time."""
  lines = ["| setting | data set | G / D rates | modes | HQS % | JSD | file |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for label, path in BMS_VARIANTS:
    results = data(path)
    for run in results["runs"]:
      if (run["method"] != "bms_vae_gan" or run["seed"] != 0
          or run.get("status") != "done"):
        continue
      if run["num_steps"] != 4000:
        raise ValueError(f"{path}: {run['num_steps']} steps, not 4000")
      n = results["protocol"]["num_modes"][run["dataset"]]
      lines.append(
          f"| {label} | {run['dataset']} | {run['generator_lr']:.0e} / "
          f"{run['discriminator_lr']:.0e} | {run['modes']} of {n} | "
          f"{100 * run['hqs']:.1f} | {run['jsd']:.3f} | `{path}` |")
  curves = [(f"at Table 1 (cosine decay to 5% of the rates), {d}", TABLE1, d)
            for d in ("ring", "grid")]
  curves.append(("at a constant rate, ring", BMS_CONSTANT_RATE, "ring"))
  curves.append(("at a constant rate, grid", BMS_CONSTANT_RATE_GRID,
                 "grid"))
  curves += [(f"in PacGAN's protocol with a 32-d latent space, {d}",
              BMS_PACGAN_PROTOCOL, d) for d in ("ring", "grid")]
  for label, path, dataset in curves:
    runs = cells(data(path))[(dataset, "bms_vae_gan")]
    steps = [p["step"] for p in runs[0]["curve"] if p["step"]]

    def mean_at(step, key, scale=1):
      return report.mean_std(_curve_values(runs, step, key, scale))[0]

    lines.append("")
    lines.append(
        f"BMS-VAE-GAN {label}: mean HQS % (modes) over {len(runs)} "
        f"seed{'s' if len(runs) > 1 else ''} by step (`{path}`): " + ", ".join(
            f"{step:,}: {mean_at(step, 'hqs', 100):.1f} "
            f"({mean_at(step, 'modes'):g})" for step in steps) + ".")
  return "\n".join(lines)


def _and_join(words):
  """"a", "a and b", "a, b and c"."""
  words = list(words)
  return (", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1
          else "".join(words))


def _tuning_points(data, *folders):
  """{method: {(G lr, D lr): (JSD, modes, HQS)}} of a committed tuning
  grid's done runs (`experiments.compare.tune_learning_rates`' folders;
  several folders where the grid's methods were tuned apart)."""
  points = {}
  for folder, (generator_lr, discriminator_lr) in itertools.product(
      folders, registry.LEARNING_RATE_GRID):
    name = registry.grid_point_name(generator_lr, discriminator_lr)
    for run in data(f"{folder}/{name}.json")["runs"]:
      if run["status"] == "done":
        points.setdefault(run["method"], {})[
            generator_lr, discriminator_lr] = (
                run["jsd"], run["modes"], run["hqs"])
  return points


def _lowest_jsd(points):
  """{method: its (G lr, D lr) of lowest JSD} of `_tuning_points`."""
  return {method: min(scores, key=lambda p, scores=scores: scores[p][0])
          for method, scores in points.items()}


def block_tuning_proxy(data, dataset="cube", proxy_steps=4000):
  """The proxy's picks against the full-length grid's (the set's
  `registry.PER_SET_TUNING_RUNS`), scored at full length: what picking at
  `proxy_steps` costs each method. On the ring the
  baselines' proxy picks are `registry.LEARNING_RATES` (their grid points'
  runs are not committed, only docs/results/baselines_ring_4000/tuning.md),
  DIW-GAN's its own grid's."""
  if dataset == "ring":
    picks = {**registry.LEARNING_RATES, **_lowest_jsd(_tuning_points(
        data, f"docs/results/tuning_ring_diwgan_{proxy_steps}"))}
  else:
    picks = _lowest_jsd(_tuning_points(
        data, f"docs/results/tuning_{dataset}_{proxy_steps}"))
  folders, full_steps = registry.PER_SET_TUNING_RUNS[dataset]
  full = _tuning_points(data, *folders)
  full_picks = _lowest_jsd(full)
  show = lambda point: registry.rate_pair_label(*point)
  lines = [
      f"| method | pick at {proxy_steps:,} steps | pick at {full_steps:,} "
      f"steps | at {full_steps:,} steps, the proxy's pick: JSD / modes / HQS % | "
      "the full-length pick: JSD / modes / HQS % |",
      "|---|---|---|---|---|"]
  same = 0
  for method in sorted(full, key=registry.METHODS.index):
    if len(full[method]) != len(registry.LEARNING_RATE_GRID):
      raise ValueError(f"{dataset} {full_steps}: {method} misses grid points")
    picked, best = picks[method], full_picks[method]
    same += picked == best
    score = lambda p: (f"{full[method][p][0]:.3f} / {full[method][p][1]:.0f} "
                       f"/ {100 * full[method][p][2]:.1f}")
    lines.append(f"| {method} | {show(picked)} | {show(best)} | "
                 f"{score(picked)} | {score(best)} |")
  lines += ["", f"The {proxy_steps:,}-step proxy picks the full-length "
            f"grid's point for {same} of {len(full)} methods on the "
            f"{dataset.replace('_', ' ')} (seed 0 at both lengths)."]
  return "\n".join(lines)


def block_bms_beside_published(data, path=BMS_PACGAN_PROTOCOL):
  """BMS-VAE-GAN in a preset with its paper's 32-d latent space (PacGAN's
  stand-in, or VEEGAN's, the architecture its paper names) at its last
  evaluation beside the BMS paper's rows, with the bar of every cell."""
  rows = published.PUBLISHED["bms_vae_gan"]
  results = data(path)
  found = cells(results)
  lines = [
      f"`{path}` at its last evaluation; published: "
      f"{published.SPREAD['bms_vae_gan']}. The bar: modes >= published - "
      f"{published.MODES_SLACK} and HQS >= published - "
      f"{published.HQS_SLACK:.0f} points.", "",
      "| data set | seeds | steps | modes here | modes published | HQS % here "
      "| HQS % published | bar |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for dataset in ("ring", "grid"):
    runs = found[(dataset, "bms_vae_gan")]
    row = rows[(dataset, "bms_vae_gan")]
    modes = [r["modes"] for r in runs]
    hqs = [100 * r["hqs"] for r in runs]
    met = published.meets_bar(_mean(modes), _mean(hqs), row)
    steps = sorted({r["num_steps"] for r in runs})
    n = results["protocol"]["num_modes"][dataset]
    lines.append(
        f"| {dataset} | {len(runs)} | "
        + ", ".join(f"{s:,}" for s in steps)
        + f" | {_mean_std(modes, '{:.1f}')} of {n} | {row['modes']} | "
        f"{_mean_std(hqs, '{:.1f}')} | {row['hqs']} +- {row['hqs_err']} | "
        + ("met" if met else "**missed**") + " |")
  return "\n".join(lines)


def block_bms_pacgan_variants(data):
  """BMS-VAE-GAN on the grid in PacGAN's protocol, one setting changed."""
  step = BMS_PACGAN_VARIANT_STEP
  lines = [f"Grid, PacGAN's protocol with a 32-d latent space, one seed, "
           f"at step {step:,}:", "",
           "| setting | modes | HQS % | JSD | file |",
           "| --- | --- | --- | --- | --- |"]
  for label, path in BMS_PACGAN_VARIANTS:
    results = data(path)
    if results["protocol"].get("preset") != "pacgan":
      raise ValueError(f"{path}: not in the pacgan protocol")
    run, = [r for r in results["runs"] if r["dataset"] == "grid"
            and r["method"] == "bms_vae_gan" and r.get("status") == "done"]
    point, = [p for p in run["curve"] if p["step"] == step]
    lines.append(f"| {label} | {point['modes']} of 25 | "
                 f"{100 * point['hqs']:.1f} | {point['jsd']:.3f} | `{path}` |")
  return "\n".join(lines)


def block_pacgan_grid_networks(data):
  """PacGAN2's grid HQS by step under the preset's and plainer networks,
  then the GAN and DIW-GAN in the plain networks."""
  steps = PACGAN_GRID_NETWORK_STEPS
  lines = ["| method and networks | seeds | " + " | ".join(
      f"HQS % at {s:,}" for s in steps) + f" | modes at {steps[-1]:,} "
      "| file |", "| --- | --- |" + " --- |" * (len(steps) + 2)]
  for label, path, seed, method in PACGAN_GRID_NETWORKS:
    results = data(path)
    if results["protocol"].get("preset") != "pacgan":
      raise ValueError(f"{path}: not in the pacgan protocol")
    runs = [r for r in cells(results)[("grid", method)]
            if seed is None or r["seed"] == seed]

    def at(step, key, scale=1):
      values = _curve_values(runs, step, key, scale)
      mean, std = report.mean_std(values)
      return (f"{mean:.1f}" if len(values) == 1
              else f"{mean:.1f} ({std:.1f})")

    lines.append(
        f"| {label} | {len(runs)} | "
        + " | ".join(at(s, "hqs", 100) for s in steps)
        + f" | {at(steps[-1], 'modes')} | `{path}` |")
  row = published.PUBLISHED["pacgan"][("grid", "pacgan2")]
  return ("Mean (sample std) over the seeds; PacGAN's published PacGAN2 "
          f"grid row: {row['modes']} modes, HQS {row['hqs']}% (the bar: "
          f"{row['modes'] - published.MODES_SLACK:g} modes, HQS "
          f"{row['hqs'] - published.HQS_SLACK:.1f}%).\n\n"
          + "\n".join(lines))


def block_pacgan_grid_trajectory(data, first_step=60_000):
  """PacGAN2's grid HQS per seed at each evaluation from `first_step` on."""
  runs = cells(data(PACGAN_GRID_100K))[("grid", "pacgan")]
  steps = [p["step"] for p in runs[0]["curve"] if p["step"] >= first_step]
  lines = ["| seed | " + " | ".join(f"{s:,}" for s in steps) + " |",
           "| --- |" + " --- |" * len(steps)]
  by_seed = []
  for run in sorted(runs, key=lambda r: r["seed"]):
    hqs = {p["step"]: 100 * p["hqs"] for p in run["curve"]}
    by_seed.append([hqs[s] for s in steps])
    lines.append(f"| {run['seed']} | " + " | ".join(
        f"{hqs[s]:.1f}" for s in steps) + " |")
  means = [report.mean_std(col)[0] for col in zip(*by_seed)]
  lines.append("| mean | " + " | ".join(f"{m:.1f}" for m in means) + " |")
  return (f"HQS % of PacGAN2 on the grid per evaluation from step "
          f"{first_step:,} on (`{PACGAN_GRID_100K}`); highest mean "
          f"{max(means):.1f}, lowest {min(means):.1f}:\n\n"
          + "\n".join(lines))


def block_late_level(data, paths=CODE_DRAWS_LATE, labels=CODE_DRAWS_LABELS,
                     first_step=60_000, windows=None):
  """Where a preset's runs sit late in a run at a constant rate, where single
  evaluations swing: per results file, the mean over its seeds and over
  every evaluation from `first_step` on of the modes and the HQS %, and at
  how many of those evaluations the seed means meet the bar of the paper's
  row (the last evaluation alone decides the reproduction table's cell).
  `windows`, (first, last) step pairs (last None: to the end), gives a row
  per window instead."""
  lines = ["| runs | seeds | evaluations | mean modes | mean HQS % | "
           "evaluations meeting the bar | file |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for path in paths:
    results = data(path)
    rows = published.PUBLISHED[results["protocol"]["preset"]]
    for ((dataset, method), runs), (first, last) in itertools.product(
        cells(results).items(), windows or ((first_step, None),)):
      row = rows[(dataset, report.published_key(results["protocol"], method))]
      steps = [p["step"] for p in runs[0]["curve"] if p["step"] >= first
               and (last is None or p["step"] <= last)]
      modes = [report.mean_std(_curve_values(runs, step, "modes"))[0]
               for step in steps]
      hqs = [report.mean_std(_curve_values(runs, step, "hqs", 100))[0]
             for step in steps]
      met = sum(published.meets_bar(m, h, row) for m, h in zip(modes, hqs))
      lines.append(
          f"| {labels.get(path, NAMES[method])} | {len(runs)} | "
          f"{steps[0]:,} to {steps[-1]:,} ({len(steps)}) | "
          f"{sum(modes) / len(modes):.1f} | {sum(hqs) / len(hqs):.1f} | "
          f"{met} of {len(steps)} | `{path}` |")
  return "\n".join(lines)


VEEGAN_PROTOCOL = "docs/results/reproduction/veegan_50k/results.json"
# DIW-GAN and the matched distance alone in the same preset, to the same
# length; their rows follow the baselines' in the trajectory block.
VEEGAN_DIW = "docs/results/reproduction/veegan_diw_50k/results.json"
VEEGAN_PROTOCOL_RUNS = (VEEGAN_PROTOCOL, VEEGAN_DIW)


def block_protocol_trajectory(data, paths=VEEGAN_PROTOCOL_RUNS,
                              every=10_000, labels=None):
  """Modes / HQS % (means over seeds) of a preset's runs every `every`
  steps, beside the published row of the paper whose preset they ran
  (recorded in each results.json, the same in all of `paths`): whether a
  cell that misses is still moving at the end of its run, and where the
  other methods in the same preset stand at the same step. `labels` maps a
  path to the name its rows carry (default: the method's)."""
  files = [data(path) for path in paths]
  presets = {results["protocol"]["preset"] for results in files}
  if len(presets) != 1:
    raise ValueError(f"{paths}: runs of different presets {sorted(presets)}")
  rows = published.PUBLISHED[presets.pop()]
  file_cells = [cells(results) for results in files]
  steps = sorted({p["step"] for by_cell in file_cells
                  for runs in by_cell.values()
                  for p in runs[0]["curve"] if p["step"] and
                  p["step"] % every == 0})
  lines = ["| data set | method | published modes / HQS % | "
           + " | ".join(f"{s:,}" for s in steps) + " |",
           "| --- | --- | --- |" + " --- |" * len(steps)]
  datasets = list(dict.fromkeys(
      d for results in files for d in results["protocol"]["configs"]))
  for dataset in datasets:
    for path, results, by_cell in zip(paths, files, file_cells):
      for method in results["protocol"]["methods"]:
        runs = by_cell.get((dataset, method))
        if not runs:
          continue
        row = rows.get(
            (dataset, report.published_key(results["protocol"], method)))
        printed = ("no published row" if row is None
                   else f"{row['modes']:g} / {row['hqs']:.1f}")
        values = []
        for step in steps:
          at = [p for r in runs for p in r["curve"] if p["step"] == step]
          values.append(
              "-" if len(at) < len(runs) else
              f"{report.mean_std([p['modes'] for p in at])[0]:.1f} / "
              f"{report.mean_std([100 * p['hqs'] for p in at])[0]:.1f}")
        name = (labels or {}).get(path, NAMES[method])
        lines.append(f"| {dataset} | {name} | {printed} | "
                     + " | ".join(values) + " |")
  seeds = sorted({len(results["protocol"]["seeds"]) for results in files})
  sources = ", ".join(f"`{path}`" for path in paths)
  return (f"Modes / HQS % (means over {' or '.join(map(str, seeds))} "
          f"seeds) every {every:,} steps ({sources}):\n\n"
          + "\n".join(lines))


def block_bms_diagnosis(data):
  """benchmarks/results/bms_diagnosis.json: BMS-VAE-GAN's three samplers."""
  results = data(BMS_DIAGNOSIS)
  p = results["platform"]
  lines = [
      f"`{results['command']}` ({p['date'][:16].replace('T', ' ')} UTC, "
      f"{p['cpu_model']}, {_avx512(p)}, {_load_note(p)}; one seed, the "
      "ring's tuned rates; modes / HQS % of 2,500 samples):", "",
      "| data set | variant | step | G(z), z ~ N(0, I) | G(mu(x)) "
      "| G(z), z ~ q(z given x) | posterior std | posterior mean RMS |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for run in results["runs"].values():
    for r in run["records"]:
      cells_ = " | ".join(
          f"{r[k]['modes']} / {100 * r[k]['hqs']:.1f}"
          for k in ("prior", "posterior_mean", "posterior_sample"))
      lines.append(f"| {run['dataset']} | {run['description']} | "
                   f"{r['step']:,} | {cells_} | {r['posterior_std']:.2f} | "
                   f"{r['posterior_mean_rms']:.2f} |")
  return "\n".join(lines)


def block_matching_accuracy(data):
  from benchmarks import matching_accuracy  # pylint: disable=g-import-not-at-top
  results = data("benchmarks/results/matching_accuracy.json")
  step = data("benchmarks/results/step.json")
  lines = [matching_accuracy.format_table(results["table"],
                                          results["step_ms"]), "",
           "On the recorded 512 x 512 training problems of a ring run "
           "(`benchmarks/data/ring_costs.npz`), against scipy's optimum:", "",
           "| matching | problems | total cost over the optimum, mean (max) "
           "| anchors with another partner |", "| --- | --- | --- | --- |"]
  for name, row in results["cost_gaps"].items():
    lines.append(
        f"| {matching_accuracy.DESCRIPTIONS[name]} | {row['problems']} | "
        f"{100 * row['relative_excess_mean']:.3g}% "
        f"({100 * row['relative_excess_max']:.3g}%) | "
        f"{100 * row['partners_changed_mean']:.1f}% |")
  rows = step["steps_per_second"]["rows"]
  lines += ["", "Step cost of each matching (`benchmarks/results/step.json`,"
            f" {step['platform']['date'][:10]}, "
            f"{_load_note(step['platform'])}), x the GAN step (wall): "
            + ", ".join(f"{matching_accuracy.DESCRIPTIONS[v]} "
                        f"{rows[row]['ratio_to_gan']:.1f}x"
                        for v, (_, _, row) in matching_accuracy.VARIANTS.items()
                        if row in rows) + "."]
  return "\n".join(lines)


def block_scale_table(data):
  """benchmarks/results/scale.json, as docs/scaling.md quotes it."""
  results = data("benchmarks/results/scale.json")
  p, config = results["platform"], results["config"]
  devices = results["devices"]
  base = devices[0]["steps_per_sec"]
  seeds = results["seeds"]
  num = config["num_seeds"]
  lines = [
      f"Measured on {p['date'][:10]} on the {p['cpu_count']}-core CPU "
      f"({_avx512(p)}; {_load_note(p)}), {config['method']} on the "
      f"{config['dataset']} with the compiled auction kernel, global batch "
      f"{config['batch_size']}, {num} seeds (`{results['command']}`, "
      "`benchmarks/results/scale.json`):", "",
      "| mode | devices | run-steps/s | vs 1 device |", "|--:|--:|--:|--:|",
      "| batch-sharded, 1 seed | "
      + " / ".join(str(r["devices"]) for r in devices) + " | "
      + " / ".join(f"{r['steps_per_sec']:.1f}" for r in devices) + " | "
      + " / ".join(f"{r['steps_per_sec'] / base:.2f}" for r in devices)
      + "x |",
      f"| {num} seeds, one after the other | 1 | "
      f"{seeds['one_run_steps_per_sec']:.1f} | - |",
      f"| {num} seeds vmapped | 1 | {seeds['vmapped_run_steps_per_sec']:.1f} "
      f"| {seeds['speedup_vs_sequential']:.2f}x the sequential runs |"]
  sharded = results.get("seed_sharded")
  if sharded:
    first = sharded[0]["run_steps_per_sec"]
    lines.append(
        f"| {num} seeds split over the devices | "
        + " / ".join(str(r["devices"]) for r in sharded) + " | "
        + " / ".join(f"{r['run_steps_per_sec']:.1f}" for r in sharded)
        + " | " + " / ".join(f"{r['run_steps_per_sec'] / first:.2f}"
                             for r in sharded) + "x |")
  return "\n".join(lines)


def block_ten_seed_cost(data):
  """Table 1 at 10 seeds: its training hours from the idle step costs."""
  results = data(METHOD_STEPS)
  t1 = data(TABLE1)
  steps = {}
  for run in t1["runs"]:
    steps[run["dataset"]] = run["num_steps"]
  per_method = sum(steps.values())
  ms = sum(results["methods"][m]["ms_per_step_wall"]
           for m in t1["protocol"]["methods"])
  hours = per_method * ms / 1e3 / 3600
  seeds = 10
  lines = [
      "From the idle step costs (`benchmarks/results/method_steps.json`, "
      "\"Step costs\" in RESULTS.md: "
      + ", ".join(f"{m} {results['methods'][m]['ms_per_step_wall']:.2f}"
                  for m in t1["protocol"]["methods"])
      + " ms) and the default lengths ("
      + ", ".join(f"{d} {n:,}" for d, n in steps.items())
      + f" steps: {per_method:,} steps per method and seed), one seed of the "
      f"{len(t1['protocol']['methods'])} methods on the {len(steps)} sets is "
      f"{per_method:,} x {ms:.0f} ms = {hours:.2f} h of training, and "
      f"{seeds} seeds {seeds * hours:.1f} h on one such CPU device. With "
      "`--shard_seeds` the seeds of each (set, method) run side by side, so "
      "the wall time is the per-seed time times ceil(10 / devices used):", "",
      "| devices (each as fast as this CPU) | seeds per device | expected "
      "wall time |", "|--:|--:|--:|"]
  for devices, label in ((1, "1"), (8, "8 (5 used: 10 seeds split evenly)"),
                         (64, "64 (10 used)")):
    per_device = -(-seeds // min(devices, seeds))
    lines.append(f"| {label} | {per_device} | {per_device * hours:.1f} h |")
  return "\n".join(lines)


def block_matching_summary(data):
  """docs/method.md's figures of how exact the matching is and costs."""
  from benchmarks import matching_accuracy  # pylint: disable=g-import-not-at-top
  results = data("benchmarks/results/matching_accuracy.json")
  rows = data("benchmarks/results/step.json")["steps_per_second"]["rows"]
  gaps = results["cost_gaps"]
  parts = []
  for name in ("default", "eps1e-3", "eps1e-2"):
    if name in gaps:
      g = gaps[name]
      parts.append(
          f"{matching_accuracy.DESCRIPTIONS[name]}: total cost "
          f"{100 * g['relative_excess_mean']:.3g}% above the optimum on "
          f"average, {100 * g['partners_changed_mean']:.0f}% of the anchors "
          "with another partner than scipy's")
  if "random" in gaps:
    parts.append(f"a random pairing: total cost "
                 f"{1 + gaps['random']['relative_excess_mean']:.1f} times the "
                 "optimum")
  costs = ", ".join(
      f"{matching_accuracy.DESCRIPTIONS[v]} {rows[row]['ratio_to_gan']:.1f}x"
      for v, (_, _, row) in matching_accuracy.VARIANTS.items() if row in rows)
  return ("On the recorded ring problems (`benchmarks/results/"
          "matching_accuracy.json`): " + "; ".join(parts) + ". The training "
          "step, x the GAN's on the 2-core CPU (`benchmarks/results/"
          f"step.json`): {costs}.")


def block_seed_throughput(data):
  """benchmarks/results/seed_throughput.json: seeds per method, as a table."""
  results = data("benchmarks/results/seed_throughput.json")
  p, config = results["platform"], results["config"]
  counts = [r["devices"] for r in
            next(iter(results["methods"].values()))["sharded"]]
  lines = [
      f"`{results['command']}` ({p['date'][:10]}, {p['cpu_count']} cores, "
      f"{_avx512(p)}, {_load_note(p)}; "
      "`benchmarks/results/seed_throughput.json`): "
      f"{config['num_seeds']} seeds of each method on the "
      f"{config['dataset']}, batch {config['batch_size']}, run-steps/s "
      "against the same seeds one after the other on one device.", "",
      "| method | one after the other (run-steps/s) | "
      + " | ".join("vmapped on 1 device" if n == 1 else
                   f"split over {n} devices (`--shard_seeds`)"
                   for n in counts) + " |",
      "|---|--:|" + "--:|" * len(counts)]
  for name, r in results["methods"].items():
    lines.append(
        f"| {name} | {r['sequential_run_steps_per_sec']:.1f} | "
        + " | ".join(f"{row['speedup_vs_sequential']:.2f}x"
                     for row in r["sharded"]) + " |")
  return "\n".join(lines)


BLOCKS = {
    "machine": block_machine,
    "table1-reading": block_table1_reading,
    "table1-per-set-cells": block_table1_per_set_cells,
    "table1-per-set-reading": block_table1_per_set_reading,
    "equal-time-per-set-cells": block_equal_time_per_set_cells,
    "published-table1": block_published_table1,
    "reproduction-diwgan": block_reproduction_diwgan,
    "reproduction-unrolled": block_reproduction_unrolled,
    "equal-time-reading": block_equal_time_reading,
    "ablation-reading": block_ablation_reading,
    "step-costs": block_step_costs,
    "image-step-costs": lambda data: block_step_costs(
        data, IMAGE_METHOD_STEPS),
    "quickstart": block_quickstart,
    "readme-findings": block_readme_findings,
    "matching-accuracy": block_matching_accuracy,
    "bms-diagnosis": block_bms_diagnosis,
    "pacgan-grid-trajectory": block_pacgan_grid_trajectory,
    "veegan-protocol-trajectory": block_protocol_trajectory,
    "pacgan-code-draws-level": block_late_level,
    "pacgan-400k-trajectory": functools.partial(
        block_protocol_trajectory, paths=(CODE_DRAWS_PACGAN_400K,),
        every=40_000, labels=CODE_DRAWS_LABELS),
    "pacgan-400k-level": functools.partial(
        block_late_level, paths=(CODE_DRAWS_PACGAN_400K,),
        windows=((150_000, 200_000), (200_000, 300_000), (300_000, None))),
    "pacgan-200k-trajectory": functools.partial(
        block_protocol_trajectory, paths=(CODE_DRAWS_PACGAN_200K,),
        every=20_000, labels=CODE_DRAWS_LABELS),
    "pacgan-200k-level": functools.partial(
        block_late_level, paths=(CODE_DRAWS_PACGAN_200K,),
        first_step=150_000),
    "pacgan-code-draws-trajectory": functools.partial(
        block_protocol_trajectory, paths=CODE_DRAWS_RUNS, every=20_000,
        labels=CODE_DRAWS_LABELS),
    "pacgan-grid-networks": block_pacgan_grid_networks,
    "bms-variants": block_bms_variants,
    "bms-pacgan-variants": block_bms_pacgan_variants,
    "bms-pacgan-beside-published": block_bms_beside_published,
    "bms-veegan-beside-published": functools.partial(
        block_bms_beside_published, path=BMS_VEEGAN_PROTOCOL),
    "bms-veegan-sn-off-beside-published": functools.partial(
        block_bms_beside_published, path=BMS_VEEGAN_SN_OFF),
    "scale-table": block_scale_table,
    "time-to-quality-avx512": block_time_to_quality_sitting,
    "step-avx512": block_step_sitting,
    "ttq-side-by-side": block_ttq_side_by_side,
    "ttq-gan-ratio": block_ttq_gan_ratio,
    "time-to-quality-xeon": functools.partial(
        block_time_to_quality_sitting, path=TIME_TO_QUALITY_XEON),
    "step-xeon": functools.partial(block_step_sitting, path=STEP_XEON),
    "ttq-side-by-side-xeon": functools.partial(
        block_ttq_side_by_side, path=TIME_TO_QUALITY_XEON,
        settings=SIDE_BY_SIDE_XEON),
    "ttq-gan-ratio-xeon": functools.partial(
        block_ttq_gan_ratio, path=TIME_TO_QUALITY_XEON),
    "ttq-within-a-minute-xeon": block_ttq_within_a_minute,
    "ttq-gan-ratio-xeon-before": functools.partial(
        block_ttq_gan_ratio, path=TIME_TO_QUALITY_XEON_BEFORE),
    "ttq-within-a-minute-xeon-before": functools.partial(
        block_ttq_within_a_minute, path=TIME_TO_QUALITY_XEON_BEFORE),
    "ttq-side-by-side-xeon-before": functools.partial(
        block_ttq_side_by_side, path=TIME_TO_QUALITY_XEON_BEFORE,
        settings=SIDE_BY_SIDE_XEON),
    "step-before-after-xeon": block_step_before_after,
    "diw-history5": block_diw_beside_table1,
    "ring-step-levers": block_ring_step_levers,
    "diw-cheaper-step": functools.partial(
        block_diw_beside_table1, path=DIW_CHEAPER_STEP, column="step",
        labels=("Table 1", "cheaper step")),
    "step-zen5": functools.partial(block_step_sitting, path=STEP_ZEN5),
    "step-zen5-before": functools.partial(
        block_step_sitting, path=STEP_ZEN5_BEFORE),
    "step-before-after-zen5": functools.partial(
        block_step_before_after, before=STEP_ZEN5_BEFORE, after=STEP_ZEN5),
    "step-before-after-zen5-avx2": functools.partial(
        block_step_before_after, before=STEP_ZEN5_AVX2_BEFORE,
        after=STEP_ZEN5_AVX2),
    "step-zen5-avx2": functools.partial(
        block_step_sitting, path=STEP_ZEN5_AVX2),
    "ttq-gan-ratio-zen5-cheaper-step": functools.partial(
        block_ttq_gan_ratio, path=TIME_TO_QUALITY_ZEN5,
        diw_tag="cheaper_step", gan_tag="cheaper_step"),
    "ttq-within-a-minute-zen5-cheaper-step": functools.partial(
        block_ttq_within_a_minute, path=TIME_TO_QUALITY_ZEN5,
        tag="cheaper_step"),
    "ttq-side-by-side-zen5": functools.partial(
        block_ttq_side_by_side, path=TIME_TO_QUALITY_ZEN5,
        settings=SIDE_BY_SIDE_ZEN5),
    "time-to-quality-zen5": functools.partial(
        block_time_to_quality_sitting, path=TIME_TO_QUALITY_ZEN5),
    "ttq-compilation-cache-zen5": block_ttq_compilation_cache,
    "ttq-side-by-side-zen5-cache-warm": functools.partial(
        block_ttq_side_by_side, path=TIME_TO_QUALITY_ZEN5,
        settings=CACHE_WARM_SIDE_BY_SIDE_ZEN5),
    "ttq-gan-ratio-zen5": functools.partial(
        block_ttq_gan_ratio, path=TIME_TO_QUALITY_ZEN5),
    "ttq-gan-ratio-zen5-history5": functools.partial(
        block_ttq_gan_ratio, path=TIME_TO_QUALITY_ZEN5, diw_tag="history5"),
    "ttq-within-a-minute-zen5": functools.partial(
        block_ttq_within_a_minute, path=TIME_TO_QUALITY_ZEN5),
    "ttq-within-a-minute-zen5-history5": functools.partial(
        block_ttq_within_a_minute, path=TIME_TO_QUALITY_ZEN5,
        tag="history5"),
    "tuning-proxy-cube": block_tuning_proxy,
    "tuning-proxy-grid": functools.partial(block_tuning_proxy, dataset="grid"),
    "tuning-proxy-random-grid": functools.partial(
        block_tuning_proxy, dataset="random_grid"),
    "tuning-proxy-ring": functools.partial(block_tuning_proxy, dataset="ring"),
    "ten-seed-cost": block_ten_seed_cost,
    "matching-summary": block_matching_summary,
    "seed-throughput": block_seed_throughput,
}

# The pages whose generated and include blocks `main` refreshes.
PAGES = ("README.md", "docs/RESULTS.md", "docs/baselines.md",
         "docs/benchmarks.md", "docs/method.md", "docs/scaling.md",
         "docs/api.md", "docs/index.md")


def refresh_generated(text: str, root: str = ".") -> str:
  """Replaces each `<!-- generated: <name> -->` block by `BLOCKS[name]`."""
  data = Data(root)

  def body(match):
    name = match.group("name")
    if name not in BLOCKS:
      raise ValueError(f"Unknown generated block {name!r}; known: "
                       f"{', '.join(sorted(BLOCKS))}")
    return (match.group(1) + BLOCKS[name](data).rstrip("\n") + "\n"
            + match.group(4))
  return GENERATED.sub(body, text)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--results", default="benchmarks/results")
  parser.add_argument("--results_md", default="docs/RESULTS.md")
  parser.add_argument("--figures", default="docs/figures")
  parser.add_argument("--no_figures", action="store_true",
                      help="leave the PNGs as they are")
  args = parser.parse_args()
  assignment = _load(os.path.join(args.results, "assignment.json"))
  kde = _load(os.path.join(args.results, "kde.json"))
  step = _load(os.path.join(args.results, "step.json"))
  scale = _load(os.path.join(args.results, "scale.json"))
  time_to_quality = _load(os.path.join(args.results, "time_to_quality.json"))
  accelerators = [_load(os.path.join(args.results, name))
                  for name in sorted(os.listdir(args.results))
                  if name.startswith("accelerator_") and name.endswith(".json")]
  if not args.no_figures:
    os.makedirs(args.figures, exist_ok=True)
    if assignment:
      plot_matching(assignment,
                    os.path.join(args.figures, "matching_vs_n.png"))
    if step:
      plot_step_vs_batch(step,
                         os.path.join(args.figures, "step_vs_batch.png"))
      plot_profile(step, os.path.join(args.figures, "step_profile.png"))
  figures_rel = os.path.relpath(args.figures,
                                os.path.dirname(args.results_md) or ".")
  with open(args.results_md) as f:
    text = f.read()
  text = replace_region(text, render(assignment, kde, step, figures_rel,
                                       scale, time_to_quality, accelerators))
  with open(args.results_md, "w") as f:
    f.write(text)
  pages = list(dict.fromkeys([args.results_md, *PAGES]))
  for page in pages:
    if not os.path.exists(page):
      continue
    with open(page) as f:
      text = f.read()
    refreshed = refresh_generated(refresh_includes(text))
    if refreshed != text:
      with open(page, "w") as f:
        f.write(refreshed)
  print(f"Rendered {args.results_md}, the generated blocks of "
        f"{', '.join(pages)}"
        + ("" if args.no_figures else f" and {args.figures}/*.png"))


if __name__ == "__main__":
  main()
