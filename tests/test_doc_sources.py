"""Hand-written figures of the docs recomputed from their committed sources.

Most measured numbers of README.md and docs/*.md sit in blocks generated
from committed JSON (tests/test_docs.py). The few that describe a committed
data file in prose are recomputed here from that file.
"""

import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDED = os.path.join(ROOT, "benchmarks", "data", "ring_costs.npz")


def _read(page):
  with open(os.path.join(ROOT, page)) as f:
    return f.read()


def _numbers(pattern, text):
  match = re.search(pattern, " ".join(text.split()))
  assert match, pattern
  return [float(x) for x in match.groups()]


def test_benchmarks_md_describes_the_recorded_problems():
  """docs/benchmarks.md, "The recorded problems": size, anchor clusters,
  cost range and how far the generated latents sit from the anchors."""
  from scipy.cluster import vq  # pylint: disable=g-import-not-at-top
  from scipy.spatial import distance  # pylint: disable=g-import-not-at-top
  text = _read("docs/benchmarks.md")
  (size_mb,) = _numbers(r"convergence flags \(([\d.]+) MB\)", text)
  assert os.path.getsize(RECORDED) / 2**20 == pytest.approx(size_mb, abs=0.05)
  within, cost_range = _numbers(
      r"within-cluster std ~([\d.]+) against a cost range of ~([\d.]+)", text)
  early, mid = _numbers(
      r"anchor cluster ([\d.]+) early, ([\d.]+) mid", text)
  data = np.load(RECORDED)
  anchors = data["anchors"].astype(np.float64)
  centres, labels = vq.kmeans2(anchors, 8, seed=0, minit="++")
  assert np.bincount(labels, minlength=8).min() > 0
  measured_within = np.sqrt(np.mean(
      [np.mean((anchors[labels == k] - centres[k]) ** 2) for k in range(8)]))
  assert measured_within == pytest.approx(within, rel=0.1)
  costs = distance.cdist(anchors, data["phase0_latents"][0])
  assert costs.max() - costs.min() == pytest.approx(cost_range, rel=0.1)
  for phase, stated in (("phase0", early), ("phase1", mid)):
    latents = data[f"{phase}_latents"].reshape(-1, 8).astype(np.float64)
    nearest = distance.cdist(latents, centres).min(axis=1).mean()
    assert nearest == pytest.approx(stated, abs=0.01), phase
