"""A shortened default ring run must find the modes (docs/RESULTS.md, ring acceptance)."""

import pytest

from experiments import mog
from experiments.configs import mog as mog_configs


@pytest.mark.slow
def test_diwgan_finds_ring_modes(tmp_path):
  config = mog_configs.get_config("ring")
  config.num_steps = 1500
  config.batch_size = 256
  config.log_every = 100
  config.eval.every = 500
  config.checkpoint_every = 1500
  final = mog.train_and_evaluate(config, str(tmp_path))
  assert final["modes"] >= 7, final
