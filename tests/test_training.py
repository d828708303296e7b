"""The generic step, the loop's resume/NaN/config guards, on tiny MoG runs."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diwgan import autoencoder as autoencoder_lib
from diwgan import checkpointing
from experiments.configs import mixtures
from experiments import loop
from experiments import mog
import step_checks  # tests/ is on sys.path (pytest's rootdir-relative import)


def tiny_config(method="diwgan", dataset="ring", num_steps=40):
  config = mixtures.get_config(dataset)
  config.method = method
  config.num_steps = num_steps
  config.batch_size = 32
  config.num_real = 2000
  config.autoencoder.steps = 1500
  config.autoencoder.batch_size = 256
  config.log_every = 10
  config.checkpoint_every = 20
  config.eval.every = 20
  config.eval.num_samples = 256
  return config


@pytest.mark.parametrize("method", ["gan", "diwgan"])
def test_steps_change_parameters_and_give_finite_metrics(method):
  experiment = mog.build_experiment(tiny_config(method))
  # Checks finite metrics, moved parameters, the auction's convergence and
  # one ring-buffer slot filled per step.
  state, new_state, metrics = step_checks.train_and_check(experiment, 5)
  if method == "diwgan":
    # The anchors stay fixed for the whole run.
    np.testing.assert_array_equal(new_state.method_state.anchors,
                                  state.method_state.anchors)
  else:
    assert "diw_term" not in metrics


def test_diw_gradient_differs_from_gan_gradient():
  """The DIW term reaches the generator: alpha changes the update."""
  config = tiny_config("diwgan")
  experiment = mog.build_experiment(config)
  state = experiment.initial_state()
  config.diw.alpha = 0.0
  zero_alpha = mog.build_experiment(config)
  step_diw, _ = jax.jit(experiment.trainer.step)(state)
  step_zero, _ = jax.jit(zero_alpha.trainer.step)(state)
  leaves_diw = jax.tree.leaves(step_diw.generator_params)
  leaves_zero = jax.tree.leaves(step_zero.generator_params)
  assert any(not np.allclose(a, b) for a, b in zip(leaves_diw, leaves_zero))


def _final_params(workdir, config):
  experiment = mog.build_experiment(config)
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"))
  state = ckpt.restore(ckpt.latest_step(), experiment.template_state())
  ckpt.close()
  return state


@pytest.mark.parametrize("method", ["gan", "diwgan"])
def test_resume_equals_uninterrupted_run(tmp_path, method):
  config = tiny_config(method)
  full_dir = str(tmp_path / "full")
  final = mog.train_and_evaluate(config, full_dir)
  assert final["step"] == 40

  # Interrupt the second run right after its step-20 checkpoint (during the
  # evaluation of step 30, which follows it).
  broken_dir = str(tmp_path / "broken")
  experiment = mog.build_experiment(config, broken_dir)
  original = experiment.evaluate

  def evaluate(state):
    if int(state.step) == 30:
      raise KeyboardInterrupt
    return original(state)

  config.eval.every = 10
  experiment.evaluate = evaluate
  with pytest.raises(KeyboardInterrupt):
    loop.train(experiment, config, broken_dir)
  config.eval.every = 20
  mog.train_and_evaluate(config, broken_dir)

  full = _final_params(full_dir, config)
  resumed = _final_params(broken_dir, config)
  assert int(resumed.step) == 40
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(a))
                                  if jnp.issubdtype(a.dtype, jax.dtypes.prng_key)
                                  else a,
                                  np.asarray(jax.random.key_data(b))
                                  if jnp.issubdtype(b.dtype, jax.dtypes.prng_key)
                                  else b)
  # The metrics file holds each step once, as the uninterrupted run's does.
  def steps(path):
    with open(os.path.join(path, "metrics.jsonl")) as f:
      return [(r["kind"], r["step"]) for r in map(json.loads, f)]
  assert steps(broken_dir) == [s for s in steps(full_dir)]


def test_outputs_written(tmp_path):
  config = tiny_config("diwgan", num_steps=20)
  workdir = str(tmp_path / "run")
  final = mog.train_and_evaluate(config, workdir)
  for name in ("metrics.jsonl", "final_metrics.json", "config.json",
               "anchor_quality.json", "samples_000000.png",
               "samples_000020.png", "curves.png"):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert set(final) >= {"modes", "strict_modes", "hqs", "jsd"}
  with open(os.path.join(workdir, "anchor_quality.json")) as f:
    quality = json.load(f)
  assert quality["autoencoder_relative_mse"] < config.autoencoder.max_relative_mse


def _read_events(folder):
  """(tag, step, value or image) of every summary in the event files."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  out = []
  for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as f:
      data = f.read()
    offset = 0
    while offset < len(data):  # TFRecord: length, crc, payload, crc.
      length = int.from_bytes(data[offset:offset + 8], "little")
      event = event_pb2.Event.FromString(
          data[offset + 12:offset + 12 + length])
      offset += 16 + length
      for value in event.summary.value:
        out.append((value.tag, event.step, value.simple_value
                    if value.HasField("simple_value") else value.image))
  return out


def test_tensorboard_event_files(tmp_path):
  config = tiny_config("diwgan", num_steps=20)
  config.tensorboard = True
  workdir = str(tmp_path / "run")
  mog.train_and_evaluate(config, workdir)
  events = _read_events(os.path.join(workdir, "tensorboard"))
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  scalars = {(tag, step): value for tag, step, value in events
             if not hasattr(value, "encoded_image_string")}
  # Every number of every metrics.jsonl record, at its step.
  for record in records:
    for name in ("d_loss", "matched_distance") if record["kind"] == "train" \
        else ("modes", "hqs"):
      assert scalars[(f"{record['kind']}/{name}", record["step"])] == (
          pytest.approx(record[name]))
  images = [(tag, step) for tag, step, value in events
            if hasattr(value, "encoded_image_string")]
  assert images == [("samples", 0), ("samples", 20)]


def test_resume_with_other_config_is_refused(tmp_path):
  config = tiny_config("gan", num_steps=20)
  workdir = str(tmp_path / "run")
  mog.train_and_evaluate(config, workdir)
  config.batch_size = 16
  with pytest.raises(checkpointing.CheckpointError, match="batch_size"):
    mog.train_and_evaluate(config, workdir)
  config.batch_size = tiny_config("gan").batch_size
  # The run's own method fields count; another method's do not (a field
  # added to another method since the checkpoint leaves it resumable).
  config.methods.gne.weight += 1.0
  config.methods.bms_vae_gan.new_option = True
  config.num_steps = 30
  mog.train_and_evaluate(config, workdir)
  gne = tiny_config("gne", num_steps=20)
  gne_dir = str(tmp_path / "gne")
  mog.train_and_evaluate(gne, gne_dir)
  gne.methods.gne.weight += 1.0
  with pytest.raises(checkpointing.CheckpointError, match="methods.gne.weight"):
    mog.train_and_evaluate(gne, gne_dir)


def test_no_intact_checkpoint_gives_clear_error(tmp_path):
  config = tiny_config("gan", num_steps=20)
  workdir = str(tmp_path / "run")
  mog.train_and_evaluate(config, workdir)
  step_dir = os.path.join(workdir, "checkpoints", "20", "state")
  for root, _, files in os.walk(step_dir):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"garbage")
  config.num_steps = 40
  with pytest.raises(checkpointing.CheckpointError, match="20"):
    mog.train_and_evaluate(config, workdir)


def test_truncated_newest_checkpoint_resumes_from_the_one_before(tmp_path):
  config = tiny_config("diwgan", num_steps=40)
  config.checkpoint_every = 10
  full_dir = str(tmp_path / "full")
  mog.train_and_evaluate(config, full_dir)
  damaged_dir = str(tmp_path / "damaged")
  mog.train_and_evaluate(config, damaged_dir)
  # Truncate every file of the newest checkpoint (step 40) to half its size.
  for root, _, files in os.walk(os.path.join(damaged_dir, "checkpoints", "40")):
    for name in files:
      path = os.path.join(root, name)
      os.truncate(path, os.path.getsize(path) // 2)
  final = mog.train_and_evaluate(config, damaged_dir)
  assert final["step"] == 40
  # The damaged checkpoint was set aside, steps 31-40 ran again from step 30
  # and gave what the uninterrupted run gave.
  assert os.path.isdir(os.path.join(damaged_dir, "damaged_checkpoints", "40"))
  full = _final_params(full_dir, config)
  resumed = _final_params(damaged_dir, config)
  for a, b in zip(jax.tree.leaves(full.generator_params),
                  jax.tree.leaves(resumed.generator_params)):
    np.testing.assert_array_equal(a, b)


def test_nan_stops_run_naming_step_and_checkpoint(tmp_path):
  config = tiny_config("gan", num_steps=40)
  # A NaN rate is refused by the config check; an absurd one diverges.
  config.optimizer.generator_lr = 1e30
  config.optimizer.discriminator_lr = 1e30
  with pytest.raises(loop.NonFiniteLossError, match=r"step \d+.*checkpoint"):
    mog.train_and_evaluate(config, str(tmp_path / "run"))


def test_autoencoder_gate_names_the_number():
  config = tiny_config("diwgan")
  config.autoencoder.steps = 1
  experiment = mog.build_experiment(config)
  with pytest.raises(autoencoder_lib.AutoEncoderQualityError,
                     match=r"relative to the data variance is [\d.e+-]+.*0\.01"):
    experiment.initial_state()


def test_unknown_config_lists_valid_ones():
  with pytest.raises(ValueError, match="ring, grid, random_grid, cube"):
    mixtures.get_config("spiral")


def test_schedule_must_align_with_log_every(tmp_path):
  config = tiny_config("gan")
  config.checkpoint_every = 15
  with pytest.raises(ValueError, match="checkpoint_every"):
    mog.train_and_evaluate(config, str(tmp_path / "run"))
