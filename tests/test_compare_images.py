"""The comparison harness on the image sets: digits, 2 methods, 1 seed.

One real run of `experiments.compare` through `experiments.images` at toy
size (4 steps, 8-wide nets, a 100-step classifier, a 30-step auto-encoder
for DIW-GAN), then its resume, `collect_only`, failures, learning rates,
tuning and report from that run or from results.json alone.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from experiments import compare
from experiments.configs import image_sets
from experiments import images
from experiments import loop
from experiments import published
from experiments import registry
from experiments import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ["gan", "diwgan"]
OVERRIDES = {
    "num_steps": 4, "log_every": 2, "eval.every": 4, "checkpoint_every": 2,
    "batch_size": 16, "noise_dim": 8, "generator.width": 8,
    "discriminator.width": 8, "eval.num_samples": 200, "eval.chunk": 100,
    "eval.grid_side": 2, "eval.classifier.steps": 100,
    "eval.classifier.width": 8, "eval.classifier.hidden": 16,
    "autoencoder.steps": 30, "autoencoder.width": 4,
    "autoencoder.hidden": 32, "autoencoder.latent_dim": 16,
    # A 30-step auto-encoder; the gate itself is tested in test_images.py.
    "autoencoder.max_relative_mse": 10.0,
}
# The per-set pick the learning-rate tests put in the registry for `gan`.
GAN_PICK = (3e-4, 5e-4)

# Toy conv nets: compile without XLA's optimisations.
pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """digits x (gan, diwgan) x seed 0, at `learning_rates="per_set"` with a
  per-set pick for `gan` only."""
  workdir = str(tmp_path_factory.mktemp("compare_images"))
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(registry.PER_SET_LEARNING_RATES, "digits",
                  {"gan": GAN_PICK})
    results = compare.run_comparison(["digits"], METHODS, [0], workdir,
                                     OVERRIDES, learning_rates="per_set")
  return workdir, results


def test_results_json_holds_protocol_and_image_metrics(finished):
  workdir, results = finished
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f) == results
  protocol = results["protocol"]
  assert protocol["family"] == "images"
  assert protocol["configs"] == ["digits"] and protocol["methods"] == METHODS
  assert protocol["seeds"] == [0] and protocol["overrides"] == OVERRIDES
  assert protocol["learning_rates"] == "per_set"
  assert protocol["num_modes"] == {"digits": 10}
  runs = results["runs"]
  assert [(r["dataset"], r["method"], r["seed"], r["status"]) for r in runs
          ] == [("digits", "gan", 0, "done"), ("digits", "diwgan", 0, "done")]
  for run in runs:
    assert run["num_steps"] == 4 and run["batch_size"] == 16
    assert 1 <= run["modes"] <= 10 and run["kl"] >= 0.0
    assert 0.0 <= run["classifier_accuracy"] <= 1.0
    assert run["seconds_per_step"] > 0
    assert [p["step"] for p in run["curve"]] == [0, 4]
    assert set(run["curve"][-1]) >= {"modes", "kl", "seconds"}
    assert os.path.exists(os.path.join(workdir, run["samples"]))
  # Both runs were judged by the one classifier of the comparison.
  assert os.path.exists(os.path.join(workdir, "classifier", "digits",
                                     "classifier.json"))
  assert len({r["classifier_accuracy"] for r in runs}) == 1


def test_per_set_picks_the_image_sets_own_rates_else_the_config(finished):
  _, results = finished
  gan, diwgan = results["runs"]
  assert (gan["generator_lr"], gan["discriminator_lr"]) == GAN_PICK
  default = image_sets.get_config("digits").optimizer
  assert (diwgan["generator_lr"], diwgan["discriminator_lr"]) == (
      default.generator_lr, default.discriminator_lr)


def test_ring_rates_are_never_applied_to_image_networks(monkeypatch):
  monkeypatch.setitem(registry.PER_SET_LEARNING_RATES, "digits",
                      {"gan": GAN_PICK})
  default = image_sets.get_config("digits").optimizer
  assert registry.LEARNING_RATES["gan"] != (default.generator_lr,
                                            default.discriminator_lr)
  for choice in ("ring", "config"):
    config = compare.run_config("digits", "gan", 2, {},
                                learning_rates=choice)
    assert (config.optimizer.generator_lr,
            config.optimizer.discriminator_lr) == (
                default.generator_lr, default.discriminator_lr), choice
  # A set without picks of its own keeps the config's under per_set too.
  assert "mnist" not in registry.PER_SET_LEARNING_RATES
  config = compare.run_config("mnist", "gan", 0, {},
                              learning_rates="per_set")
  assert config.optimizer.generator_lr == image_sets.get_config(
      "mnist").optimizer.generator_lr
  # stacked_digits has picks of its own (its grid's, every method).
  config = compare.run_config("stacked_digits", "bms_vae_gan", 0, {},
                              learning_rates="per_set")
  assert (config.optimizer.generator_lr, config.optimizer.discriminator_lr
          ) == registry.PER_SET_LEARNING_RATES["stacked_digits"]["bms_vae_gan"]
  # Overrides win over the pick.
  config = compare.run_config("digits", "gan", 0,
                              {"optimizer.generator_lr": 1e-5},
                              learning_rates="per_set")
  assert (config.optimizer.generator_lr,
          config.optimizer.discriminator_lr) == (1e-5, GAN_PICK[1])
  assert (config.dataset, config.method, config.seed) == ("digits", "gan", 0)


def test_table_md_rows(finished):
  workdir, results = finished
  with open(os.path.join(workdir, "table.md")) as f:
    table = f.read()
  assert table == report.table_markdown(results)
  assert table.startswith("# Image sets: mean (std) over seeds")
  assert "## digits" in table
  assert "| metric | gan | diwgan |" in table
  gan, diwgan = results["runs"]
  assert ("| modes (max 10) | " + report._cell([gan["modes"]], 1.0, 1)  # pylint: disable=protected-access
          + " | " + report._cell([diwgan["modes"]], 1.0, 1) + " |") in table  # pylint: disable=protected-access
  assert ("| KL to uniform | " + report._cell([gan["kl"]], 1.0, 3)  # pylint: disable=protected-access
          + " |") in table
  assert "| ms / step | " in table
  assert "| step time / gan | 1.00x | " in table
  assert "tuned on each image set" in table
  assert "Judged by the digit classifier of test accuracy" in table
  assert "stacked MNIST" not in table  # digits is not a stacked set
  for name in ("samples.png", "curves.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name


def test_rerun_trains_nothing_and_interrupted_run_resumes(
    finished, monkeypatch, capsys, training_spy, without_timings):
  workdir, results = finished
  trained = training_spy(images)
  again = compare.run_comparison(["digits"], METHODS, [0], workdir,
                                 OVERRIDES, learning_rates="per_set")
  assert trained == []
  assert "[1/2] digits gan seed 0: done, skipped" in capsys.readouterr().out
  # An interrupted run (no final metrics): resumed from its step-4
  # checkpoint, the same metrics as before.
  os.remove(os.path.join(workdir, "digits", "gan", "seed0",
                         "final_metrics.json"))
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(registry.PER_SET_LEARNING_RATES, "digits",
                  {"gan": GAN_PICK})
    again = compare.run_comparison(["digits"], METHODS, [0], workdir,
                                   OVERRIDES, learning_rates="per_set")
  assert trained == [("gan", 0)]
  assert "digits gan seed 0: training" in capsys.readouterr().out
  assert (without_timings(again["runs"])
          == without_timings(results["runs"]))


def test_collect_only_rebuilds_results_and_trains_nothing(
    finished, tmp_path, monkeypatch):
  workdir, results = finished
  monkeypatch.setattr(images, "train_and_evaluate",
                      lambda config, path: pytest.fail("trained"))
  partial = str(tmp_path / "partial")
  shutil.copytree(os.path.join(workdir, "digits", "gan"),
                  os.path.join(partial, "digits", "gan"))
  monkeypatch.setitem(registry.PER_SET_LEARNING_RATES, "digits",
                      {"gan": GAN_PICK})
  collected = compare.run_comparison(
      ["digits"], METHODS, [0], partial, OVERRIDES, learning_rates="per_set",
      collect_only=True)
  assert [r["status"] for r in collected["runs"]] == ["done", "missing"]
  assert collected["runs"][0] == results["runs"][0]
  with open(os.path.join(partial, "table.md")) as f:
    assert "| modes (max 10) | " + report._cell(  # pylint: disable=protected-access
        [results["runs"][0]["modes"]], 1.0, 1) + " | - |" in f.read()


def test_failed_image_run_is_recorded_and_counted(tmp_path, monkeypatch):
  def diverge(config, path):
    del config, path
    raise loop.NonFiniteLossError("g_loss became nan at step 3.")

  monkeypatch.setattr(images, "train_and_evaluate", diverge)
  results = compare.run_comparison(["stacked_digits"], ["gan"], [0, 1],
                                   str(tmp_path), OVERRIDES)
  assert [r["status"] for r in results["runs"]] == ["failed", "failed"]
  table = report.format_table(results)
  assert "| modes (max 1000) | - 2 failed |" in table
  assert "| stacked_digits | gan | 1 | g_loss became nan at step 3. |" in table
  # The published block stands beside the stacked set even with no run.
  assert "### Published (another data set): stacked MNIST (28x28)" in table


def test_mixed_families_and_mixture_only_options_are_refused(tmp_path):
  with pytest.raises(ValueError, match="cannot share --configs"):
    compare.run_comparison(["ring", "digits"], ["gan"], [0], str(tmp_path))
  with pytest.raises(ValueError, match="mixture protocol"):
    compare.run_config("digits", "gan", 0, {}, preset="pacgan")
  with pytest.raises(ValueError, match="does not apply to the image sets"):
    compare.plan_comparison(["digits"], ["gan"], [0], str(tmp_path), {},
                            step_costs={"ms_per_step": {"gan": 1.0},
                                        "measured_on": {}})
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize("args,expected", [
    (["--configs=ring,digits"], "cannot share --configs"),
    (["--configs=digits", "--equal_time_to=diwgan"],
     "--equal_time_to applies to the mixtures only"),
    (["--configs=digits", "--config.generator_hidden=8"],
     "--config.generator_hidden: the digits config has no such field"),
])
def test_command_line_errors_are_one_line(tmp_path, args, expected):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", "--seeds=1",
       f"--workdir={tmp_path}", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("error: ")]
  assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
  assert "Traceback" not in result.stderr


def test_tuning_on_an_image_set_picks_the_lowest_kl(tmp_path, monkeypatch):
  outcome = {(1e-3, 1e-4): (0.9, 9), (1e-4, 1e-3): (0.2, 10),
             (1e-3, 1e-3): (0.4, 10)}
  seen = []

  def fake_comparison(datasets, method_names, seeds, workdir, overrides,
                      **kwargs):
    del datasets, seeds, workdir
    seen.append((overrides, kwargs["learning_rates"]))
    kl, modes = outcome[overrides["optimizer.generator_lr"],
                        overrides["optimizer.discriminator_lr"]]
    return {"runs": [{"method": m, "status": "done", "kl": kl,
                      "modes": modes} for m in method_names]}

  monkeypatch.setattr(compare, "run_comparison", fake_comparison)
  best = compare.tune_learning_rates(["digits"], ["gan"], [0], str(tmp_path),
                                     grid=tuple(outcome))
  assert best == {"gan": (1e-4, 1e-3)}
  # Every grid point at the config's rates plus the point's, one classifier.
  for overrides, learning_rates in seen:
    assert learning_rates == "config"
    assert overrides["eval.classifier.dir"] == str(tmp_path / "classifier")
  with open(tmp_path / "tuning.md") as f:
    table = f.read()
  assert "KL / modes" in table and "best = lowest KL to uniform" in table
  assert ("| gan | 0.900 / 9.0 | 0.200 / 10.0 | 0.400 / 10.0 | "
          "G 1e-4 / D 1e-3 |") in table
  assert compare.LEARNING_RATE_CHOICES == ("ring", "per_set", "config")
  # --tune's default grid on the images: the mixtures' shape with the image
  # config's own rates (DCGAN's 2e-4 for both players) as one of its points.
  assert compare.IMAGES.tune_grid == registry.IMAGE_LEARNING_RATE_GRID
  assert compare.MIXTURES.tune_grid == registry.LEARNING_RATE_GRID
  config = image_sets.get_config("stacked_digits")
  assert (config.optimizer.generator_lr, config.optimizer.discriminator_lr
          ) in registry.IMAGE_LEARNING_RATE_GRID
  assert len(registry.IMAGE_LEARNING_RATE_GRID) == len(
      registry.LEARNING_RATE_GRID)


def test_stacked_mnist_published_block_renders():
  block = report.stacked_mnist_block("stacked_digits")
  assert "### Published (another data set): stacked MNIST (28x28), not these " \
         "stacked digits (8x8)" in block
  # VEEGAN, Table 2, as the paper prints it.
  for printed, method, modes, kl in (("DCGAN", "gan", "99.0", "3.40"),
                                     ("ALI", "-", "16.0", "5.40"),
                                     ("Unrolled GAN", "unrolled", "48.7",
                                      "4.32"),
                                     ("VEEGAN", "veegan", "150.0", "2.95")):
    assert (f"| VEEGAN, Table 2 | {printed} | {method} | {modes} | {kl} |"
            in block), printed
  assert ("| PacGAN, Table 2 | PacDCGAN2 | pacgan2 | 1000.0 +- 0 | "
          "0.06 +- 0.003 |") in block
  assert "VEEGAN: Reducing Mode Collapse in GANs" in block
  assert "PacGAN: The power of two samples" in block
  assert len(published.STACKED_MNIST) == block.count("Table 2 |")
  same_set = report.stacked_mnist_block("stacked_mnist")
  assert "another data set" not in same_set and "28x28" in same_set
  assert report.stacked_mnist_block("digits") == ""
  assert report.stacked_mnist_block("mnist") == ""


def test_vmapped_image_seeds_leave_one_result_per_seed(
    finished, tmp_path, monkeypatch, capsys):
  workdir, sequential = finished
  monkeypatch.setitem(registry.PER_SET_LEARNING_RATES, "digits",
                      {"gan": GAN_PICK})
  # The classifier of the sequential run (same settings: loaded, not
  # trained again).
  overrides = {**OVERRIDES,
               "eval.classifier.dir": os.path.join(workdir, "classifier")}
  results = compare.run_comparison(["digits"], ["gan"], [0, 1],
                                   str(tmp_path), overrides,
                                   learning_rates="per_set", vmap_seeds=True)
  assert "digits gan seeds [0, 1]: training (4 steps, vmapped)" in (
      capsys.readouterr().out)
  runs = results["runs"]
  assert [(r["seed"], r["status"]) for r in runs] == [(0, "done"), (1, "done")]
  alone = sequential["runs"][0]
  assert runs[0]["modes"] == alone["modes"]
  assert abs(runs[0]["kl"] - alone["kl"]) <= 1e-5
  assert [p["step"] for p in runs[1]["curve"]] == [0, 4]
  assert os.path.exists(os.path.join(str(tmp_path), runs[0]["samples"]))
