"""`benchmarks.time_to_quality` reads a finished run's own files right."""

import json
import sys

from benchmarks import time_to_quality


def _write_run(folder, rates):
  """A finished run's files: `rates[i]` is the chunk ending at 100 (i + 1)."""
  folder.mkdir(parents=True)
  records = [{"kind": "eval", "step": 0, "seconds": 1.0}]
  records += [{"kind": "train", "step": 100 * (i + 1), "steps_per_sec": r,
               "seconds": 1.0 + sum(100 / x for x in rates[:i + 1])}
              for i, r in enumerate(rates)]
  (folder / "metrics.jsonl").write_text(
      "\n".join(json.dumps(r) for r in records) + "\n")
  (folder / "final_metrics.json").write_text(json.dumps({
      "step": 100 * len(rates), "seconds_to_quality": 12.5,
      "steps_to_quality": 1000, "modes": 8, "strict_modes": 7, "hqs": 0.9,
      "jsd": 0.05}))


def test_measure_leaves_out_the_compiling_chunk_and_splits_the_first_steps(
    tmp_path):
  # Chunk 1 compiles (slow); steps 200-1500 run at 100/s, later ones at 50/s.
  rates = [1.0] + [100.0] * 14 + [50.0] * 30
  _write_run(tmp_path / "run", rates)
  measured = time_to_quality.measure(str(tmp_path / "run"))
  assert measured["steps_per_sec_first"] == 100.0
  assert measured["steps_per_sec"] == 50.0  # median of 14 x 100, 30 x 50
  assert measured["seconds_to_quality"] == 12.5
  assert measured["seconds_first_chunk"] == 101.0  # 1 s, then 100 steps at 1/s
  assert (measured["modes"], measured["hqs"], measured["steps"]) == (
      8, 0.9, 4500)


def test_reread_updates_run_fields_and_keeps_the_clock(tmp_path, monkeypatch):
  workdir = tmp_path / "ring_diwgan_seed0"
  _write_run(workdir, [1.0, 80.0, 80.0])
  output = tmp_path / "results.json"
  run = {"tag": "t", "config": "ring", "method": "diwgan", "seed": 0,
         "command": f"python -m experiments.mog --workdir={workdir}",
         "wall_seconds": 30.0, "steps_per_sec": 1.0,
         "load_average_before": [0.1, 0.1, 0.1]}
  gone = dict(run, seed=1, command="python -m experiments.mog "
              f"--workdir={tmp_path / 'removed'}")
  output.write_text(json.dumps({"runs": [run, gone], "platform": {}}))
  monkeypatch.setattr(sys, "argv", ["time_to_quality", "--reread",
                                    f"--output={output}"])
  time_to_quality.main()
  reread, untouched = json.loads(output.read_text())["runs"]
  assert reread["steps_per_sec"] == reread["steps_per_sec_first"] == 80.0
  assert reread["wall_seconds"] == 30.0
  assert reread["load_average_before"] == [0.1, 0.1, 0.1]
  assert untouched == gone  # its workdir is gone: left as it was

