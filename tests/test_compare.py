"""The comparison harness on 2 methods x 1 data set x 2 seeds x 20 steps."""

import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys

import pytest

from experiments import compare
from experiments.configs import mixtures
from experiments import loop
from experiments import mog
from experiments import registry
from experiments import report
from experiments import validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERRIDES = {
    "num_steps": 20, "log_every": 10, "eval.every": 20,
    "checkpoint_every": 10, "batch_size": 32, "eval.num_samples": 256,
    "generator_hidden": (32,), "discriminator_hidden": (32,),
}


# Tiny models run in microseconds: compile them without XLA's optimisations.
pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, module_compilation_cache):
  """The harness's runs; seed 1 loads seed 0's compiled programs."""
  del module_compilation_cache
  workdir = str(tmp_path_factory.mktemp("compare"))
  results = compare.run_comparison(
      ["ring"], ["gan", "pacgan"], [0, 1], workdir, OVERRIDES)
  return workdir, results


def test_writes_table_json_and_pngs(finished):
  workdir, results = finished
  for name in ("results.json", "table.md", "samples.png", "curves.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  runs = results["runs"]
  assert [(r["method"], r["seed"], r["status"]) for r in runs] == [
      ("gan", 0, "done"), ("gan", 1, "done"),
      ("pacgan", 0, "done"), ("pacgan", 1, "done")]
  for run in runs:
    assert run["num_steps"] == 20 and run["batch_size"] == 32
    assert set(run) >= {"modes", "strict_modes", "hqs", "jsd",
                        "seconds_per_step", "curve", "samples"}
    assert [p["step"] for p in run["curve"]] == [0, 20]
    assert run["curve"][0]["seconds"] == 0.0 < run["curve"][-1]["seconds"]
    assert os.path.exists(os.path.join(workdir, run["samples"]))
  # Each seed is its own run with its own result.
  assert runs[0]["path"] != runs[1]["path"]
  with open(os.path.join(workdir, "table.md")) as f:
    table = f.read()
  assert "| data set | metric | gan | pacgan |" in table
  for label in ("modes (max 8)", "strict modes", "HQS (%)", "JSD",
                "ms / step", "step time / gan"):
    assert f"| {label} |" in table, label
  gan = [r for r in runs if r["method"] == "gan"]
  assert report._cell([r["modes"] for r in gan], 1.0, 1) in table  # pylint: disable=protected-access
  assert "| 1.00x |" in table


def test_rerun_skips_finished_runs_and_resumes_interrupted(
    finished, capsys, training_spy, without_timings):
  workdir, results = finished
  # An interrupted run: its last evaluation and final metrics are gone.
  broken = os.path.join(workdir, "ring", "pacgan", "seed1")
  os.remove(os.path.join(broken, "final_metrics.json"))
  trained = training_spy(mog)
  again = compare.run_comparison(
      ["ring"], ["gan", "pacgan"], [0, 1], workdir, OVERRIDES)
  assert trained == [("pacgan", 1)]
  out = capsys.readouterr().out
  assert "[1/4] ring gan seed 0: done, skipped" in out
  assert "ring pacgan seed 1: training" in out
  # Resumed from the step-20 checkpoint: same metrics as before.
  assert (without_timings(again["runs"])
          == without_timings(results["runs"]))


def test_collect_only_reports_finished_runs_and_trains_nothing(
    finished, tmp_path, monkeypatch, capsys):
  workdir, results = finished
  monkeypatch.setattr(mog, "train_and_evaluate",
                      lambda config, path: pytest.fail("trained"))
  partial = str(tmp_path / "partial")
  shutil.copytree(os.path.join(workdir, "ring", "gan"),
                  os.path.join(partial, "ring", "gan"))
  collected = compare.run_comparison(
      ["ring"], ["gan", "pacgan"], [0, 1], partial, OVERRIDES,
      collect_only=True)
  assert "ring pacgan seed 0: not finished, left out" in capsys.readouterr().out
  assert [r["status"] for r in collected["runs"]] == [
      "done", "done", "missing", "missing"]
  assert collected["runs"][:2] == results["runs"][:2]
  with open(os.path.join(partial, "table.md")) as f:
    table = f.read()
  assert "| modes (max 8) | " + report._cell(  # pylint: disable=protected-access
      [r["modes"] for r in results["runs"][:2]], 1.0, 1) + " | - |" in table


def test_plan_counts_the_runs_left_and_their_hours(finished, monkeypatch):
  workdir, _ = finished
  monkeypatch.setattr(mog, "train_and_evaluate",
                      lambda config, path: pytest.fail("trained"))
  costs = {"ms_per_step": {"gan": 3.6, "pacgan": 7.2},
           "measured_on": {"config": "ring", "batch_size": 32}}
  # Seeds 0 and 1 are done at 20 steps: only seed 2 is left.
  plan = compare.plan_comparison(["ring"], ["gan", "pacgan"], [0, 1, 2],
                                 workdir, OVERRIDES, step_costs=costs)
  assert "| ring | gan | 1 | 20 | 0.00 |" in plan
  assert "| all | | 2 | | 0.00 |" in plan
  # Extended to 1e6 steps every run is left: 3 x 1e6 x 3.6 ms = 3 hours.
  plan = compare.plan_comparison(
      ["ring"], ["gan", "pacgan"], [0, 1, 2], workdir,
      {**OVERRIDES, "num_steps": 1_000_000}, step_costs=costs)
  assert "| ring | gan | 3 | 1000000 | 3.00 |" in plan
  assert "| ring | pacgan | 3 | 1000000 | 6.00 |" in plan
  assert "| all | | 6 | | 9.00 |" in plan
  with pytest.raises(ValueError, match="No step cost for gne"):
    compare.plan_comparison(["ring"], ["gne"], [0], workdir, OVERRIDES,
                            step_costs=costs)


def test_only_report_rebuilds_the_same_table(finished):
  workdir, _ = finished
  with open(os.path.join(workdir, "table.md")) as f:
    table = f.read()
  os.remove(os.path.join(workdir, "table.md"))
  os.remove(os.path.join(workdir, "samples.png"))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", "--only_report",
       f"--workdir={workdir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "table.md")) as f:
    assert f.read() == table
  assert os.path.exists(os.path.join(workdir, "samples.png"))
  # And from the JSON alone, in-process.
  with open(os.path.join(workdir, "results.json")) as f:
    assert report.format_table(json.load(f)) == table


def test_failed_run_is_recorded_and_counted(tmp_path, monkeypatch):
  calls = []

  def diverge(config, path):
    calls.append(config.seed)
    raise loop.NonFiniteLossError(
        "g_loss became nan at step 3. Last good checkpoint: none")

  monkeypatch.setattr(mog, "train_and_evaluate", diverge)
  results = compare.run_comparison(["ring"], ["gan"], [0, 1], str(tmp_path),
                                   OVERRIDES)
  assert [r["status"] for r in results["runs"]] == ["failed", "failed"]
  assert "became nan" in results["runs"][0]["error"]
  table = report.format_table(results)
  assert "2 failed" in table
  # Each failure is listed with its error, not dropped.
  assert ("| ring | gan | 1 | g_loss became nan at step 3. Last good "
          "checkpoint: none |") in table
  assert "| ring | gan | failed | failed |" in table  # time to quality
  # Not retried unless asked.
  compare.run_comparison(["ring"], ["gan"], [0, 1], str(tmp_path), OVERRIDES)
  assert calls == [0, 1]
  compare.run_comparison(["ring"], ["gan"], [0, 1], str(tmp_path), OVERRIDES,
                         retry_failed=True)
  assert calls == [0, 1, 0, 1]


def test_mean_std_is_the_sample_std_over_seeds():
  values = [0.81, 0.9, 0.87, 0.62]
  assert report.mean_std(values) == pytest.approx(
      (statistics.mean(values), statistics.stdev(values)))
  assert report.mean_std([0.5]) == (0.5, 0.0)
  with pytest.raises(ValueError, match="no values"):
    report.mean_std([])
  assert report._cell(values, 100.0, 1) == "80.0 (12.6)"  # pylint: disable=protected-access
  assert report._cell([], 100.0, 1) == "-"  # pylint: disable=protected-access


def test_equal_time_steps_scale_with_step_cost():
  costs = {"diwgan": 17.0, "gan": 6.0, "unrolled": 40.0, "pacgan": 5.0}
  steps = compare.equal_time_steps(costs, "diwgan", 10_000,
                                   ["gan", "unrolled", "pacgan", "diwgan"])
  # 170 s of training: 170000 / 6 = 28333, / 40 = 4250 (to even), / 5 = 34000.
  assert steps == {"gan": 28300, "unrolled": 4200, "pacgan": 34000,
                   "diwgan": 10000}
  assert compare.equal_time_steps(costs, "gan", 100, ["diwgan"],
                                  round_to=10) == {"diwgan": 40}
  with pytest.raises(ValueError, match="No step cost for gne"):
    compare.equal_time_steps(costs, "diwgan", 10, ["gne"])
  with pytest.raises(ValueError, match="Step cost of gan is 0.0 ms"):
    compare.equal_time_steps({**costs, "gan": 0.0}, "diwgan", 10, ["gan"])


def test_step_costs_are_read_from_the_benchmark_output(tmp_path):
  costs = compare.load_step_costs(
      os.path.join(ROOT, "benchmarks", "results", "method_steps.json"))
  assert set(costs["ms_per_step"]) >= set(registry.BASELINES)
  assert costs["measured_on"]["config"] == "ring"
  protocol = compare.equal_time_protocol(
      ["ring", "grid"], ["gan", "diwgan"], "diwgan", costs)
  ms = costs["ms_per_step"]
  for dataset, steps in (("ring", 10_000), ("grid", 20_000)):
    assert protocol["num_steps"][dataset]["diwgan"] == steps
    assert protocol["budget_seconds"][dataset] == pytest.approx(
        steps * ms["diwgan"] / 1000)
    assert protocol["num_steps"][dataset]["gan"] == pytest.approx(
        steps * ms["diwgan"] / ms["gan"], abs=50)
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"methods": {"gan": {"ms": 3}}}))
  with pytest.raises(ValueError, match="not an output of benchmarks"):
    compare.load_step_costs(str(bad))
  with pytest.raises(FileNotFoundError, match="benchmarks.method_steps"):
    compare.load_step_costs(str(tmp_path / "none.json"))


def test_equal_time_comparison_trains_each_method_its_steps(
    tmp_path, module_compilation_cache):
  del module_compilation_cache
  equal_time = compare.equal_time_protocol(
      ["ring"], ["gan", "pacgan"], "gan",
      {"ms_per_step": {"gan": 2.0, "pacgan": 1.0}, "measured_on": {
          "config": "ring", "batch_size": 32, "date": "today"}},
      {"num_steps": 100})
  assert equal_time["num_steps"] == {"ring": {"gan": 100, "pacgan": 200}}
  equal_time["num_steps"]["ring"] = {"gan": 20, "pacgan": 40}
  results = compare.run_comparison(
      ["ring"], ["gan", "pacgan"], [0], str(tmp_path), OVERRIDES,
      equal_time=equal_time)
  assert [(r["method"], r["num_steps"]) for r in results["runs"]] == [
      ("gan", 20), ("pacgan", 40)]
  assert [p["step"] for p in results["runs"][1]["curve"]] == [0, 20, 40]
  assert results["protocol"]["equal_time"] == equal_time
  with open(tmp_path / "table.md") as f:
    table = f.read()
  assert "at equal training time" in table
  assert "the seconds of gan's run (ring: 0 s)" in table
  assert "| ring | gan | not reached |" in table or "| ring | gan | 0 s" in table
  assert "|  | steps | 20 | 40 |" in table
  # Time to quality: a run's steps at its method's measured step cost.
  results["runs"][1]["steps_to_quality"] = 3000
  assert "| ring | pacgan | 3 s (3000 steps) |" in report.format_table(
      results)


def test_time_to_quality_table_per_seed(finished):
  _, results = finished
  results = json.loads(json.dumps(results))
  results["runs"][0].update(steps_to_quality=1000, seconds_to_quality=42.4)
  results["runs"][1].update(status="failed")
  table = report.format_table(results)
  assert "| data set | method | seed 0 | seed 1 |" in table
  assert "| ring | gan | 42 s (1000 steps) | failed |" in table


def test_run_config_applies_tuned_rates_then_overrides(monkeypatch):
  monkeypatch.setitem(registry.LEARNING_RATES, "pacgan",
                      (3e-4, 2e-4))
  config = compare.run_config("grid", "pacgan", 3,
                              {"optimizer.discriminator_lr": 5e-4})
  assert (config.dataset, config.method, config.seed) == ("grid", "pacgan", 3)
  assert config.optimizer.generator_lr == 3e-4
  assert config.optimizer.discriminator_lr == 5e-4
  config = compare.run_config("grid", "pacgan", 3, {},
                              learning_rates="config")
  assert config.optimizer.generator_lr == mixtures.get_config(
      "grid").optimizer.generator_lr


def test_tuning_picks_the_lowest_jsd(tmp_path, monkeypatch):
  outcome = {(1e-3, 1e-4): (0.6, 8, 0.01), (1e-4, 1e-3): (0.2, 7, 0.8),
             (1e-3, 1e-3): (0.3, 8, 0.6)}

  def fake_comparison(datasets, method_names, seeds, workdir, overrides,
                      **kwargs):
    del datasets, seeds, workdir, kwargs
    jsd, modes, hqs = outcome[overrides["optimizer.generator_lr"],
                              overrides["optimizer.discriminator_lr"]]
    return {"runs": [{"method": m, "status": "done", "jsd": jsd,
                      "modes": modes, "hqs": hqs} for m in method_names]}

  monkeypatch.setattr(compare, "run_comparison", fake_comparison)
  best = compare.tune_learning_rates(["ring"], ["gan"], [0], str(tmp_path),
                                     grid=tuple(outcome))
  assert best == {"gan": (1e-4, 1e-3)}
  with open(tmp_path / "tuning.md") as f:
    table = f.read()
  assert ("| gan | 0.600 / 8.0 / 1.0 | 0.200 / 7.0 / 80.0 | "
          "0.300 / 8.0 / 60.0 | G 1e-4 / D 1e-3 |") in table


def test_bad_override_fails_before_any_training(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(mog, "train_and_evaluate",
                      lambda config, path: calls.append(config.seed))
  with pytest.raises(validation.ConfigError,
                     match=r"config.batch_size=510: .*pack_size=4"):
    compare.run_comparison(["ring"], ["gan", "pacgan"], [0, 1],
                           str(tmp_path), {**OVERRIDES, "batch_size": 510})
  assert calls == []  # the gan cells come first and were not trained


def test_progress_shows_runs_done_and_eta(tmp_path, monkeypatch, capsys):
  def fake_run(config, path):
    os.makedirs(path, exist_ok=True)
    raise loop.NonFiniteLossError("nan")

  monkeypatch.setattr(mog, "train_and_evaluate", fake_run)
  compare.run_comparison(["ring"], ["gan", "pacgan"], [0], str(tmp_path),
                         OVERRIDES)
  out = capsys.readouterr().out
  assert f"2 runs, 2 to train, 0 done or failed before; writing to {tmp_path}" in out
  assert "[1-1/2, 0/2 of this session done, ETA ?] ring gan seed 0" in out
  assert "[2-2/2, 1/2 of this session done, ETA " in out


@pytest.mark.parametrize("args,expected", [
    (["--configs=spiral"], "Unknown config 'spiral'"),
    (["--methods=pacgan", "--config.batch_size=510"],
     "config.batch_size=510: must be a multiple of "
     "config.methods.pacgan.pack_size=4"),
    (["--equal_time_to=wgan"], "Unknown method 'wgan' in --equal_time_to"),
    (["--equal_time_to=diwgan", "--step_costs=missing.json"],
     "--step_costs=missing.json: No step costs at missing.json"),
])
def test_command_line_errors_are_one_line(tmp_path, args, expected):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", "--configs=ring",
       "--seeds=1", f"--workdir={tmp_path}", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("error: ")]
  assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "ring")  # nothing trained


def test_zero_seeds_is_refused_not_the_default(tmp_path):
  """`--seeds=0` once ran the default ten seeds; it is a flag error now."""
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", "--configs=ring",
       "--seeds=0", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode != 0
  assert "--seeds=0: 0 is not a positive integer" in result.stderr
  assert not os.path.exists(tmp_path / "ring")


def test_per_run_fields_cannot_be_overridden(tmp_path):
  with pytest.raises(ValueError, match="set per run"):
    compare.run_comparison(["ring"], ["gan"], [0], str(tmp_path),
                           {"seed": 3})
  with pytest.raises(ValueError, match="Unknown method 'vae'"):
    compare.run_comparison(["ring"], ["vae"], [0], str(tmp_path))


def test_vmapped_seeds_leave_one_result_per_seed(
    finished, tmp_path, capsys):
  workdir, sequential = finished
  results = compare.run_comparison(
      ["ring"], ["gan"], [0, 1], str(tmp_path), OVERRIDES, vmap_seeds=True)
  assert "ring gan seeds [0, 1]: training (20 steps, vmapped)" in (
      capsys.readouterr().out)
  group = tmp_path / "ring" / "gan" / "vmapped_seed0-1"
  with open(group / "final_metrics.json") as f:
    program = json.load(f)
  runs = results["runs"]
  assert [(r["seed"], r["status"]) for r in runs] == [(0, "done"), (1, "done")]
  for index, run in enumerate(runs):
    # Each folder holds its seed's values of the one vmapped program ...
    for name in compare.METRICS:
      assert run[name] == program["per_seed"][name][index], name
    assert [p["step"] for p in run["curve"]] == [0, 20]
    # ... and matches that seed trained alone, float rounding apart: every
    # logged loss (continuous values that a mixed-up key or seed would
    # change in the first digits) and every evaluation. Measured: losses
    # within 1.2e-7, evaluations bit-equal.
    alone = [r for r in sequential["runs"]
             if r["method"] == "gan" and r["seed"] == run["seed"]][0]
    assert run["modes"] == alone["modes"]
    assert run["strict_modes"] == alone["strict_modes"]
    assert abs(run["hqs"] - alone["hqs"]) <= 1e-6
    assert abs(run["jsd"] - alone["jsd"]) <= 1e-5
    seed_dir = f"ring/gan/seed{run['seed']}/metrics.jsonl"
    with open(tmp_path / seed_dir) as f:
      vmapped_log = [json.loads(line) for line in f]
    with open(os.path.join(workdir, seed_dir)) as f:
      alone_log = [json.loads(line) for line in f]
    assert [(r["kind"], r["step"]) for r in vmapped_log] == [
        (r["kind"], r["step"]) for r in alone_log]
    for mine, theirs in zip(vmapped_log, alone_log):
      keys = (("g_loss", "d_loss", "d_real", "d_fake")
              if mine["kind"] == "train" else ("modes", "hqs", "jsd"))
      for key in keys:
        assert abs(mine[key] - theirs[key]) <= 1e-5 * (1 + abs(theirs[key])), (
            run["seed"], mine["step"], key, mine[key], theirs[key])
  assert os.path.exists(os.path.join(str(tmp_path), runs[0]["samples"]))
  # The two seeds differ: the split did not copy one seed into both.
  assert program["per_seed"]["jsd"][0] != program["per_seed"]["jsd"][1]
  # A rerun finds both seeds done and trains nothing.
  again = compare.run_comparison(
      ["ring"], ["gan"], [0, 1], str(tmp_path), OVERRIDES, vmap_seeds=True)
  assert "training" not in capsys.readouterr().out
  assert again["runs"] == results["runs"]


@pytest.mark.parametrize("dataset", sorted(registry.PER_SET_LEARNING_RATES))
def test_per_set_picks_are_the_committed_tuning_runs_lowest_jsd(dataset):
  """Each per-set pick is the grid point with the lowest seed-0 JSD (KL to
  uniform on an image set) in the committed tuning runs of that set
  (`registry.PER_SET_TUNING_RUNS`), over the set's whole grid, as
  `compare.tune_learning_rates` picks it."""
  folders, num_steps = registry.PER_SET_TUNING_RUNS[dataset]
  family = compare.family_of([dataset])
  jsd = {}
  for folder, (generator_lr, discriminator_lr) in itertools.product(
      folders, family.tune_grid):
    path = compare.grid_dir(
        os.path.join(ROOT, folder), generator_lr, discriminator_lr) + ".json"
    with open(path) as f:
      for run in json.load(f)["runs"]:
        assert run["dataset"] == dataset, run
        assert run["num_steps"] == num_steps and run["seed"] == 0, run
        assert (run["generator_lr"], run["discriminator_lr"]) == (
            generator_lr, discriminator_lr)
        if run["status"] == "done":
          points = jsd.setdefault(run["method"], {})
          # A method is tuned in one folder only: no point counted twice.
          assert (generator_lr, discriminator_lr) not in points, run
          points[generator_lr, discriminator_lr] = run[family.tune_metric]
  picks = registry.PER_SET_LEARNING_RATES[dataset]
  assert set(jsd) == set(picks)
  for method, points in jsd.items():
    assert len(points) == len(family.tune_grid), method
    assert picks[method] == min(points, key=points.get), method
