"""`benchmarks.step` at test size: the pieces it times still run.

The benchmark itself takes minutes, so nothing else runs it; this test runs
its measuring functions on a tiny trained state, so that a change to the
method's state or step (the profile once read auction prices that
`DIWState` no longer keeps) fails here and not in a user's benchmark run.
Timings are not asserted (the machine may be shared); what is asserted is
what each function reports and that the ratios are its own numbers.
"""

import pytest

from benchmarks import step
from experiments import mog
import scale_helper  # tests/ is on sys.path, as in tests/test_scale.py

STEPS = 20


@pytest.fixture(scope="module")
def trained(fast_compile):  # pylint: disable=unused-argument,redefined-outer-name
  """GAN and DIW-GAN experiments (batch 64) after `STEPS` training steps."""
  experiments, states = {}, {}
  for method in ("gan", "diwgan"):
    experiment = mog.build_experiment(
        scale_helper.tiny_config(method, num_steps=STEPS))
    state, _ = step._chunk_fn(experiment.trainer)(  # pylint: disable=protected-access
        experiment.initial_state(), STEPS)
    experiments[method], states[method] = experiment, state
  return experiments, states


def test_profile_times_every_piece_of_the_diwgan_step(trained):
  experiments, states = trained
  pieces = step.profile(experiments["diwgan"].trainer, states["diwgan"],
                        problems=2, repeats=1)
  assert set(pieces) == {
      "discriminator fwd+bwd", "generator fwd+bwd (adversarial)",
      "encoder forward", "distances", "auction", "KDE weights (w_g, w_r)",
      "DIW term fwd+bwd (all of the above's DIW part)",
      "generator fwd+bwd (adversarial + DIW term)"}
  for name, piece in pieces.items():
    assert piece["ms"] > 0 and piece["cpu_ms"] >= 0, (name, piece)


def test_steps_per_second_covers_every_matcher_variant(trained):
  experiments, states = trained
  rows = step.steps_per_second(
      experiments["diwgan"], experiments["gan"], states["diwgan"],
      states["gan"], chunk=2, repeats=1)
  assert {"gan", "diwgan", "diwgan_scipy", "diwgan_eps1e-2",
          "diwgan_random_match"} <= set(rows)
  assert rows["gan"]["ratio_to_gan"] == 1.0
  for name, row in rows.items():
    assert row["steps_per_second"] == pytest.approx(1e3 / row["step_ms"])
    assert row["ratio_to_gan"] == pytest.approx(
        row["step_ms"] / rows["gan"]["step_ms"]), name


def test_step_vs_batch_rebuilds_the_state_at_another_batch(trained):
  experiments, states = trained
  config = scale_helper.tiny_config("diwgan")
  rows = step.step_vs_batch(
      experiments["diwgan"], experiments["gan"], states["diwgan"],
      states["gan"], [32], repeats=1,
      anchor_bandwidth=config.diw.anchor_bandwidth)
  (row,) = rows
  assert row["batch_size"] == 32
  assert row["ratio"] == pytest.approx(
      row["diwgan_step_ms"] / row["gan_step_ms"])
