"""The papers' protocol presets (docs/baselines.md, "Protocol presets"): the
network options they need, simultaneous updates, the preset itself, the
`--protocol` flag and the reverse KL of the PacGAN table."""

import functools
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from diwgan.data import mog as mog_data
from diwgan import methods
from diwgan.metrics import mog as mog_metrics
from diwgan import models
from diwgan import training
from experiments import compare
from experiments.configs import mixtures
from experiments import mog
from experiments import registry
from experiments import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_batch_stats_norm_matches_flax_batch_norm_in_training_mode():
  x = jax.random.normal(jax.random.key(0), (64, 5)) * 3.0 + 1.0
  ours = models.mlp.BatchStatsNorm()
  params = ours.init(jax.random.key(1), x)
  params = jax.tree.map(lambda p: p + 0.3, params)  # non-trivial scale/bias
  reference = nn.BatchNorm(use_running_average=False, epsilon=1e-5)
  variables = reference.init(jax.random.key(1), x)
  variables = {"params": params["params"],
               "batch_stats": variables["batch_stats"]}
  expected, _ = reference.apply(variables, x, mutable=["batch_stats"])
  np.testing.assert_allclose(ours.apply(params, x), expected, rtol=1e-5,
                             atol=1e-5)


def test_maxout_layer_is_the_max_of_its_pieces():
  x = jax.random.normal(jax.random.key(0), (7, 3))
  net = models.MLP((4,), 1, maxout_pieces=5)
  params = net.init(jax.random.key(1), x)
  hidden = params["params"]["Dense_0"]
  assert hidden["kernel"].shape == (3, 20)
  x, hidden = np.asarray(x), jax.tree.map(np.asarray, hidden)
  pieces = (x @ hidden["kernel"] + hidden["bias"]).reshape(7, 4, 5)
  out = params["params"]["Dense_1"]
  expected = pieces.max(-1) @ np.asarray(out["kernel"]) + np.asarray(
      out["bias"])
  np.testing.assert_allclose(net.apply(params, x), expected, rtol=1e-5,
                             atol=1e-5)


def test_init_std_draws_kernels_and_zero_biases():
  net = models.MLP((400, 400), 2, init_std=0.02, batch_norm=True)
  params = net.init(jax.random.key(0), jnp.zeros((1, 2)))["params"]
  kernel = np.asarray(params["Dense_1"]["kernel"])
  assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
  # Batch-normalised hidden layers have no bias; the output layer has zeros.
  assert "bias" not in params["Dense_0"]
  np.testing.assert_array_equal(params["Dense_2"]["bias"], 0.0)


def test_default_networks_are_unchanged():
  # The options are off by default: the same parameter tree as before.
  params = models.MLPGenerator(2).init(jax.random.key(0), jnp.zeros((1, 16)))
  assert sorted(params["params"]["MLP_0"]) == [
      "Dense_0", "Dense_1", "Dense_2", "Dense_3"]


def _trainer(simultaneous):
  networks = training.Networks(
      generator=models.MLPGenerator(2, (8,)),
      discriminator=models.MLPDiscriminator((8,)), noise_dim=2)
  mixture = mog_data.make_mixture("ring")
  return training.Trainer(
      networks=networks, method=methods.DIWGAN(matching=False),
      generator_optimizer=optax.sgd(1.0),
      discriminator_optimizer=optax.sgd(1.0),
      sample_real=lambda key, n: mog_data.sample_mixture(mixture, key, n),
      batch_size=16, simultaneous=simultaneous)


def test_simultaneous_updates_take_g_gradient_at_the_old_discriminator():
  alternating, simultaneous = _trainer(False), _trainer(True)
  state = alternating.init(jax.random.key(0))
  new_alt, _ = alternating.step(state)
  new_sim, _ = simultaneous.step(state)
  # The discriminator update is the same either way.
  jax.tree.map(np.testing.assert_array_equal, new_alt.discriminator_params,
               new_sim.discriminator_params)
  # The generator step of the simultaneous trainer equals the alternating
  # one with D held at its start-of-step value (D's learning rate 0).
  frozen = _trainer(False)
  frozen = training.Trainer(**{**frozen.__dict__,
                               "discriminator_optimizer": optax.sgd(0.0)})
  new_frozen, _ = frozen.step(state)
  jax.tree.map(np.testing.assert_array_equal, new_sim.generator_params,
               new_frozen.generator_params)
  assert not np.allclose(
      jax.tree.leaves(new_sim.generator_params)[0],
      jax.tree.leaves(new_alt.generator_params)[0])


def test_shared_draws_give_g_the_last_discriminator_batch():
  # PacGAN with packs of one (the GAN) draws its noise from the loss key
  # alike in both losses, so with shared draws G's loss is D's x and z.
  base = _trainer(True)
  shared, own = (training.Trainer(**{**base.__dict__, "shared_draws": flag,
                                     "method": methods.PacGAN(pack_size=1)})
                 for flag in (True, False))
  state = shared.init(jax.random.key(0))
  step_key = jax.random.fold_in(state.key, state.step)
  d_keys_key, _, _ = jax.random.split(step_key, 3)
  real_key, loss_key = jax.random.split(
      jax.random.split(d_keys_key, shared.discriminator_steps)[-1])
  real = shared.sample_real(real_key, shared.batch_size)
  grads = jax.grad(lambda g: shared.method.generator_loss(
      g, state.discriminator_params, state.method_state, real, loss_key,
      training.StepContext(step=state.step), shared.networks)[0])(
          state.generator_params)
  expected = jax.tree.map(lambda p, g: p - g, state.generator_params, grads)
  new_shared, _ = shared.step(state)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-6,
                                 atol=1e-7),
               new_shared.generator_params, expected)
  new_own, _ = own.step(state)
  assert not np.allclose(jax.tree.leaves(new_own.generator_params)[0],
                         jax.tree.leaves(expected)[0])
  # The discriminator's update does not change.
  jax.tree.map(np.testing.assert_array_equal, new_shared.discriminator_params,
               new_own.discriminator_params)


def test_population_statistics_average_each_layers_batch_moments():
  g = models.MLPGenerator(2, (5, 4), batch_norm=True)
  noise = jax.random.normal(jax.random.key(0), (3, 16, 6))
  variables = g.init(jax.random.key(1), noise[0])
  # Init records nothing: the parameters alone, as before.
  assert list(variables) == ["params"]
  stats = models.population_statistics(g, variables, noise)["population"]
  # First layer by hand: z W (no bias), its batch mean and biased variance.
  kernel = np.asarray(variables["params"]["MLP_0"]["Dense_0"]["kernel"])
  pre = np.asarray(noise) @ kernel
  layer = stats["MLP_0"]["BatchStatsNorm_0"]
  np.testing.assert_allclose(layer["mean"], pre.mean(axis=1).mean(axis=0),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(layer["var"], pre.var(axis=1).mean(axis=0),
                             rtol=1e-5, atol=1e-6)
  # The moments of one batch normalise that batch as batch norm does.
  one = models.population_statistics(g, variables, noise[:1])
  np.testing.assert_allclose(g.apply({**variables, **one}, noise[0]),
                             g.apply(variables, noise[0]), rtol=1e-5,
                             atol=1e-6)
  # With fixed moments a sample's output no longer depends on its batch.
  fixed = {**variables, "population": stats}
  np.testing.assert_allclose(g.apply(fixed, noise[1])[:4],
                             g.apply(fixed, noise[1, :4]), rtol=1e-5,
                             atol=1e-6)
  assert not np.allclose(g.apply(variables, noise[1])[:4],
                         g.apply(variables, noise[1, :4]), atol=1e-3)


def test_pacgan_protocol_sets_the_public_code_settings():
  for method, batch in (("gan", 100), ("pacgan", 200), ("diwgan", 100)):
    config = mixtures.get_config("grid")
    config.method = method
    mixtures.apply_protocol(config, "pacgan")
    assert config.batch_size == batch
    assert config.protocol == "pacgan"
    assert config.noise_dim == 2 and config.generator_batch_norm
    assert tuple(config.generator_hidden) == (400,) * 4
    assert tuple(config.discriminator_hidden) == (200,) * 3
    assert config.discriminator_maxout == 5 and config.init_std == 0.02
    assert config.optimizer.decay == "constant"
    assert config.optimizer.generator_lr == config.optimizer.discriminator_lr
    assert config.optimizer.b1 == 0.8 and config.simultaneous_updates
    mog.validate_config(config)


def test_veegan_protocol_sets_the_notebook_settings():
  for method, noise_dim in (("gan", 254), ("veegan", 254), ("unrolled", 254),
                            ("diwgan", 254), ("bms_vae_gan", 32)):
    config = mixtures.get_config("ring")
    config.method = method
    mixtures.apply_protocol(config, "veegan")
    assert config.protocol == "veegan" and config.noise_dim == noise_dim
    assert config.batch_size == 500 and config.num_steps == 100_000
    assert tuple(config.generator_hidden) == (128, 128)
    assert tuple(config.discriminator_hidden) == (128,)
    assert not config.generator_batch_norm and config.discriminator_maxout == 1
    assert config.optimizer.decay == "constant" and config.simultaneous_updates
    assert (config.optimizer.generator_lr, config.optimizer.discriminator_lr,
            config.optimizer.b1) == (1e-3, 1e-3, 0.5)
    assert config.methods.veegan.reconstruction_weight == 0.5
    assert config.methods.unrolled.objective == "minimax"
    mog.validate_config(config)


def test_veegan_preset_d_term_is_the_unit_gaussian_nll():
  # The notebook's d term: -log N(z; F(G(z)), I) summed over the noise
  # dimensions, up to its constant; the preset's weight 0.5 on the squared
  # l2 loss is that, checked against scipy.
  rng = np.random.default_rng(0)
  z, f = rng.normal(size=(2, 4, 254))
  nll = -stats.norm.logpdf(z, loc=f, scale=1.0).sum(-1).mean()
  constant = 0.5 * 254 * np.log(2 * np.pi)
  config = mixtures.get_config("ring")
  mixtures.apply_protocol(config, "veegan")
  weight = config.methods.veegan.reconstruction_weight
  np.testing.assert_allclose(
      weight * float(methods.veegan.reconstruction_loss(z, f)),
      nll - constant, rtol=1e-5)


def test_unknown_protocol_lists_valid_ones():
  with pytest.raises(ValueError,
                     match="valid protocols: diwgan, pacgan, veegan"):
    mixtures.apply_protocol(mixtures.get_config("ring"), "veegan2")


def test_compare_run_config_takes_the_preset_over_tuned_rates():
  tuned = compare.run_config("ring", "pacgan", 0, {})
  preset = compare.run_config("ring", "pacgan", 0, {"num_steps": 7},
                              preset="pacgan")
  assert tuned.optimizer.generator_lr == 1e-3  # LEARNING_RATES["pacgan"]
  assert preset.optimizer.generator_lr == 1e-4 and preset.num_steps == 7
  assert preset.batch_size == 200


@pytest.mark.parametrize("learning_rates", compare.LEARNING_RATE_CHOICES)
def test_compare_run_config_learning_rate_choices(learning_rates, monkeypatch):
  method = "bms_vae_gan"  # its ring pick at full length moved; the grid's not
  default = mixtures.get_config("grid").optimizer
  ring_pick = registry.LEARNING_RATES[method]
  expected = {
      # Each set's own picks; the ring's 4,000-step picks on a set without
      # picks of its own (the cube, once its picks are removed below); none
      # with "config".
      "per_set": {"ring": registry.PER_SET_LEARNING_RATES["ring"][method],
                  "grid": registry.PER_SET_LEARNING_RATES["grid"][method],
                  "cube": ring_pick},
      "ring": {"ring": ring_pick, "grid": ring_pick, "cube": ring_pick},
      "config": {d: (default.generator_lr, default.discriminator_lr)
                 for d in ("ring", "grid", "cube")},
  }[learning_rates]
  assert registry.PER_SET_LEARNING_RATES["ring"][method] != ring_pick
  assert registry.PER_SET_LEARNING_RATES["cube"][method] != ring_pick
  monkeypatch.delitem(registry.PER_SET_LEARNING_RATES, "cube")
  for dataset, rates in expected.items():
    config = compare.run_config(dataset, method, 0, {},
                                learning_rates=learning_rates)
    assert (config.optimizer.generator_lr,
            config.optimizer.discriminator_lr) == rates, dataset
  # An override still wins over any pick.
  config = compare.run_config("ring", method, 0,
                              {"optimizer.generator_lr": 3e-4},
                              learning_rates=learning_rates)
  assert config.optimizer.generator_lr == 3e-4


def test_cli_protocol_keeps_the_overrides(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.mog", "--config=ring",
       "--method=pacgan", "--protocol=pacgan", f"--workdir={tmp_path}",
       "--config.num_steps=20", "--config.log_every=10",
       "--config.eval.every=20", "--config.checkpoint_every=20",
       "--config.optimizer.b1=0.7"],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / "config.json") as f:
    config = json.load(f)
  assert config["protocol"] == "pacgan" and config["batch_size"] == 200
  assert config["optimizer"]["b1"] == 0.7  # the override wins
  assert config["discriminator_maxout"] == 5
  with open(tmp_path / "final_metrics.json") as f:
    final = json.load(f)
  assert final["step"] == 20 and "reverse_kl" in final


def test_reverse_kl_matches_scipy():
  rng = np.random.default_rng(0)
  counts = rng.integers(0, 50, size=26)
  weights = np.full(25, 1 / 25)
  expected = stats.entropy(counts[:25] / counts[:25].sum(), weights)
  np.testing.assert_allclose(
      mog_metrics.reverse_kl(counts, weights), expected, rtol=1e-5)


def _result_runs(dataset, method, modes, hqs):
  return [{"dataset": dataset, "method": method, "seed": s, "status": "done",
           "modes": m, "hqs": h, "reverse_kl": 0.1}
          for s, (m, h) in enumerate(zip(modes, hqs))]


def test_reproduction_table_sets_runs_beside_the_published_rows():
  results = {
      "protocol": {"configs": ["grid"], "methods": ["gan", "pacgan", "gne"],
                   "seeds": [0, 1, 2], "overrides": {}, "preset": "pacgan"},
      # PacGAN2 grid published: 23.8 modes, 91.3% HQS; GAN 17.3, 94.8%.
      "runs": (_result_runs("grid", "pacgan", [24, 23, 24], [0.9, 0.8, 0.85])
               + _result_runs("grid", "gan", [25, 25, 25], [0.5, 0.9, 0.9])
               + _result_runs("grid", "gne", [3, 3, 3], [0.9, 0.9, 0.9])),
  }
  table = report.reproduction_table(results)
  rows = {line.split(" | ")[1]: line for line in table.splitlines()
          if line.startswith("| grid")}
  assert "| 23.7 (0.6) | 23.8 +- 0.7 | 85.0 (5.0) | 91.3 +- 0.8 |" in (
      rows["pacgan2"])
  assert rows["pacgan2"].endswith("| met |")
  assert rows["gan"].endswith("| **missed** |")  # HQS 76.7 < 94.8 - 10
  assert "no published row" in rows["gne"] and rows["gne"].endswith("| - |")
  # VEEGAN's Table 1 prints no third metric: the JSD measured here sits
  # beside "not published". Its GAN grid row (3.3 modes, 0.5%) is met by
  # more modes at any HQS above -9.5 points of it.
  veegan = {"protocol": dict(results["protocol"], preset="veegan",
                             methods=["gan", "veegan"]),
            "runs": [dict(r, jsd=0.2) for r in results["runs"]]
            + [dict(r, method="veegan", jsd=0.3)
               for r in _result_runs("grid", "x", [24, 24, 25],
                                     [0.2, 0.25, 0.3])]}
  table = report.reproduction_table(veegan)
  rows = {line.split(" | ")[1]: line for line in table.splitlines()
          if line.startswith("| grid")}
  assert "| JSD here | JSD published |" in table
  assert rows["gan"].endswith(
      "| 25.0 (0.0) | 3.3 | 76.7 (23.1) | 0.5 | 0.200 (0.000) | "
      "not published | met |")
  # 24.3 modes >= 24.6 - 0.5, but HQS 25.0% < 40.0 - 10.
  assert "| 24.3 (0.6) | 24.6 | 25.0 (5.0) | 40.0 |" in rows["veegan"]
  assert rows["veegan"].endswith("| **missed** |")
  # Without a preset (the project's own protocol) there is nothing to set
  # beside.
  del results["protocol"]["preset"]
  assert report.reproduction_table(results) == ""


def test_plan_and_equal_time_refuse_a_preset(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", "--configs=ring",
       "--methods=gan", "--protocol=pacgan", "--plan",
       f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 2, result.stderr[-3000:]
  assert "do not apply to --protocol=pacgan" in result.stderr
  assert "Traceback" not in result.stderr
