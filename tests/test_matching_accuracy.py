"""The matching-accuracy table (benchmarks/matching_accuracy.py) from run folders."""

import json
import os

import numpy as np

from benchmarks import matching_accuracy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _finished(root, variant, dataset, method, seed, step, **metrics):
  folder = root / variant / dataset / method / f"seed{seed}"
  folder.mkdir(parents=True)
  with open(folder / "final_metrics.json", "w") as f:
    json.dump({"step": step, **metrics}, f)


def test_table_counts_finished_seeds_only(tmp_path):
  hqs = [0.81, 0.9, 0.85]
  for seed, value in enumerate(hqs):
    _finished(tmp_path, "random", "ring", "diwgan_random_match", seed, 10_000,
              modes=8 - seed, hqs=value, jsd=0.05 + seed / 100)
  # Interrupted (step < the ring's 10,000): not counted.
  _finished(tmp_path, "random", "ring", "diwgan_random_match", 3, 4_000,
            modes=1, hqs=0.0, jsd=0.6)
  table = matching_accuracy.collect("random", ["ring", "grid"], tmp_path)
  assert list(table) == ["ring"]  # no grid runs at all
  row = table["ring"]
  assert row["seeds"] == [0, 1, 2] and row["num_modes"] == 8
  assert row["hqs"]["per_seed"] == hqs
  np.testing.assert_allclose(row["hqs"]["mean"], np.mean(hqs))
  np.testing.assert_allclose(row["hqs"]["std"], np.std(hqs, ddof=1))
  text = matching_accuracy.format_table(
      {"random": table}, {"diwgan_random_match": 9.5})
  line = text.splitlines()[-1]
  assert "random matching" in line and "7.0 (1.0): 8.0 / 7.0 / 6.0" in line
  assert "81.0 / 90.0 / 85.0" in line and line.endswith("| 9.50 |")


def test_cost_gaps_on_recorded_problems():
  gaps = matching_accuracy.cost_gaps(
      os.path.join(ROOT, "benchmarks", "data", "ring_costs.npz"), problems=1)
  assert set(gaps) == {"default", "eps1e-3", "eps1e-2", "random"}
  for row in gaps.values():
    assert row["problems"] == 2  # one per recorded phase
    assert row["relative_excess_mean"] >= -1e-6  # scipy is optimal
  # The default eps is within 1e-4 of the optimum; a random pairing is not
  # close (its cost is several times the optimum's).
  assert gaps["default"]["relative_excess_max"] <= 1e-4
  assert gaps["random"]["relative_excess_mean"] > 1.0
