r"""Trains and evaluates a method on a mixture of Gaussians.

  python -m experiments.mog --config=ring
  python -m experiments.mog --config=grid --method=gan --workdir=/tmp/grid_gan
  python -m experiments.mog --config=ring --config.diw.alpha=2.0
  python -m experiments.mog --config=ring --seeds=10    # 10 seeds, one program
  python -m experiments.mog --config=ring --num_devices=8  # data-parallel

Writes metrics.jsonl, samples_<step>.png, curves.png, final_metrics.json,
anchor_quality.json and orbax checkpoints to --workdir (default
runs/mog/<config>_<method>_seed<seed>); rerunning with the same --workdir
resumes from the last checkpoint. With --seeds=S, final_metrics.json holds
the mean, `<metric>_std` and per-seed values, and seed s's anchor quality is
in <workdir>/seed_<s>/. Several hosts: run the same command on each with
--coordinator_address=<host0>:<port> --num_processes=<P> --process_id=<i>
(docs/scaling.md).
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure
import ml_collections

from diwgan.data import mog
from diwgan import methods
from diwgan.metrics import mog as mog_metrics
from diwgan import models
from diwgan import training
from experiments import cli
from experiments.configs import mixtures
from experiments import diw_setup
from experiments import loop
from experiments import registry
from experiments import report
from experiments import runs
from experiments import validation


def _mixture_metrics(samples, mixture, config):
  return mog_metrics.mixture_metrics(
      samples, mixture, hq_std=config.eval.hq_std,
      strict_threshold=config.eval.strict_threshold)


def _metrics_dict(result) -> dict:
  return {
      "modes": result.modes, "strict_modes": result.strict_modes,
      "hqs": result.hqs, "jsd": result.jsd,
  }


def build_experiment(
    config: ml_collections.ConfigDict, workdir: str = None
) -> runs.Experiment:
  """Everything `loop.train` needs for this config."""
  mixture = mog.make_mixture(config.dataset)
  data_dim = mixture.means.shape[1]
  networks = training.Networks(
      generator=models.MLPGenerator(
          data_dim, tuple(config.generator_hidden),
          batch_norm=config.generator_batch_norm, init_std=config.init_std),
      discriminator=models.MLPDiscriminator(
          tuple(config.discriminator_hidden),
          maxout_pieces=config.discriminator_maxout,
          init_std=config.init_std),
      noise_dim=config.noise_dim,
  )
  autoencoder = models.MLPAutoEncoder(
      data_dim, config.autoencoder.latent_dim, config.autoencoder.hidden)
  encode = functools.partial(autoencoder.apply, method=autoencoder.encode)
  method = registry.make_method(config, encode)
  trainer = runs.make_trainer(config, networks, method,
                              functools.partial(mog.sample_mixture, mixture))
  root_key = jax.random.key(config.seed)
  init_key, ae_key, real_key, anchor_key, eval_key = jax.random.split(
      root_key, 5)
  uses_ae = registry.needs_autoencoder(config.method)

  sample = jax.jit(mog.sample_mixture, static_argnums=2)
  decode = jax.jit(functools.partial(autoencoder.apply,
                                     method=autoencoder.decode))

  def anchor_quality(ae_params, anchors):
    result = _mixture_metrics(decode(ae_params, anchors), mixture, config)
    return {f"anchor_{k}": v for k, v in _metrics_dict(result).items()}

  def method_state(pretrain: bool):
    if not uses_ae:
      return registry.init_method_state(
          method, jax.random.fold_in(init_key, 1), networks,
          jnp.zeros((1, data_dim), jnp.float32))
    if not pretrain:
      ae_params = autoencoder.init(ae_key, jnp.zeros((1, data_dim)))
      anchors = jnp.zeros((config.batch_size, config.autoencoder.latent_dim))
      return methods.init_diw_state(
          ae_params, anchors, history=config.diw.history)
    return diw_setup.pretrained_diw_state(
        config, autoencoder, lambda: sample(mixture, real_key, config.num_real),
        (ae_key, anchor_key), workdir, anchor_quality=anchor_quality)

  # The set-up as a few compiled programs: op by op, the flax inits and
  # samplers would compile ~150 tiny programs (~15 s on a 2-core CPU).
  init = jax.jit(trainer.init)
  template = jax.jit(lambda: trainer.init(init_key, method_state(False)))

  population_batches = config.eval.get("population_statistics", 0)

  # The key is an argument, not a constant of the program: every seed runs
  # the same program (and loads it from the compilation cache).
  @jax.jit
  def generate_with(state, eval_key):
    if not (population_batches and config.generator_batch_norm):
      return networks.generate(
          state.generator_params, eval_key, config.eval.num_samples)
    # Inference-mode batch norm, as PacGAN's code samples: every layer
    # normalised by its moments averaged over training-size batches.
    variables = state.generator_params["generator"]
    noise = networks.sample_noise(
        jax.random.fold_in(eval_key, 2), population_batches * config.batch_size)
    stats = models.population_statistics(
        networks.generator, variables,
        noise.reshape(population_batches, config.batch_size, -1))
    return networks.generator.apply(
        {**variables, **stats},
        networks.sample_noise(eval_key, config.eval.num_samples))

  def generate(state):
    return generate_with(state, eval_key)

  def evaluate(state):
    result = _mixture_metrics(generate(state), mixture, config)
    return {**_metrics_dict(result),
            "reverse_kl": mog_metrics.reverse_kl(result.counts,
                                                 mixture.weights)}

  real_for_plot = sample(
      mixture, jax.random.fold_in(eval_key, 1), config.eval.num_samples)

  def plot(state, path):
    plot_samples(generate(state), real_for_plot,
                 title=f"{config.dataset} {config.method} step {int(state.step)}",
                 path=path)

  num_modes = mixture.means.shape[0]

  def quality(metrics):
    # The bar of `seconds_to_quality`: every mode, HQS >= eval.quality_hqs.
    return (metrics["modes"] >= num_modes
            and metrics["hqs"] >= config.eval.quality_hqs)

  return runs.Experiment(
      trainer=trainer,
      initial_state=lambda: init(init_key, method_state(True)),
      template_state=template,
      evaluate=evaluate,
      plot=plot,
      summary_plot=plot_curves,
      quality=quality,
  )


def plot_samples(samples, real, *, title: str, path: str) -> None:
  """Scatter of generated (blue) over real (grey) samples, 2-D or 3-D."""
  fig = Figure(figsize=(5, 5))
  if samples.shape[1] == 3:
    ax = fig.add_subplot(projection="3d")
    ax.scatter(*real.T, s=2, c="0.6", alpha=0.5, label="real")
    ax.scatter(*samples.T, s=2, c="tab:blue", alpha=0.5, label="generated")
  else:
    ax = fig.add_subplot()
    ax.scatter(*real.T, s=2, c="0.6", alpha=0.5, label="real")
    ax.scatter(*samples.T, s=2, c="tab:blue", alpha=0.5, label="generated")
    ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", markerscale=4)
  fig.savefig(path, dpi=100, bbox_inches="tight")


def plot_curves(eval_records: list, path: str) -> None:
  """Modes and HQS against steps."""
  report.plot_eval_curves(eval_records, path, [
      ("modes", [("modes", "modes", 1.0),
                 ("strict_modes", "strict modes", 1.0)]),
      ("HQS (%)", [("hqs", None, 100.0)])])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       start_time: Optional[float] = None):
  """Trains `config` into `workdir` (resuming) and returns final metrics.

  `config.num_seeds` > 1 trains seeds `config.seed + i` together under vmap
  (seed s's result equals the run of `runs.seed_config(config, s)` alone up
  to float32 rounding; tests/test_scale.py holds the tolerance);
  `config.num_devices` devices (0: all) split the batch.
  `start_time` (`time.time()` of the command's start, default now) starts
  the clock of `seconds_to_quality`.
  """
  validate_config(config)
  return loop.train(
      runs.build_runs(build_experiment, config, workdir), config, workdir,
      start_time=start_time)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises `validation.ConfigError` naming a field whose value is wrong."""
  validation.validate(config, datasets=mixtures.CONFIGS,
                      methods=registry.METHODS)




if __name__ == "__main__":
  cli.run(get_config=mixtures.get_config, config_names=mixtures.CONFIGS,
          default_config="ring", train_and_evaluate=train_and_evaluate,
          family="mog", kind="Mixture", protocols=mixtures.PROTOCOLS,
          apply_protocol=mixtures.apply_protocol)
