"""The device check (`python -m benchmarks.accelerator --small`) on the CPU."""

import json

from benchmarks import accelerator


def test_small_device_check_passes_and_writes_its_json(tmp_path):
  output = tmp_path / "accelerator.json"
  status = accelerator.main(["--small", f"--output={output}",
                             f"--workdir={tmp_path / 'runs'}"])
  with open(output) as f:
    results = json.load(f)
  assert status == 0, results["failed"]
  assert results["small"] and results["failed"] == []
  assert results["platform"]["backend"] == "cpu"
  # Every matcher on every adversarial case and size.
  checked = {(r["matcher"], r["case"]) for r in results["matchers"]}
  for matcher in accelerator.MATCHERS:
    for case in ("cloud", "integer ties", "wide range", "rank one",
                 "all equal", "rectangular", "duplicate points"):
      assert (matcher, case) in checked, (matcher, case)
  assert all(r["ok"] for r in results["matchers"])
  assert results["kde"]["ok"] and results["diw_gradient"]["ok"]
  for row in results["matching_ms"]:
    assert row["auction_cold_ms"] > 0 and row["scipy_host_ms"] > 0
  steps = results["steps"]
  assert steps["gan_step_ms"] > 0 and steps["diwgan_step_ms"] > 0
  assert steps["vmapped_run_steps_per_sec"] > 0
  assert results["ring"]["steps"] == accelerator.SMALL.ring_steps
  assert 0 <= results["ring"]["hqs"] <= 1
