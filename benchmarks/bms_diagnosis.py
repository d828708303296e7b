r"""Diagnosis: where BMS-VAE-GAN's off-mode samples come from.

  python -m benchmarks.bms_diagnosis
  python -m benchmarks.bms_diagnosis --config=grid --num_steps=4000 \
      --variants=default,rec100

Trains BMS-VAE-GAN on a mixture (at its tuned learning rates, the
comparison harness's `experiments.registry.LEARNING_RATES`) once per
variant of `VARIANTS`, and every `--every` steps evaluates three kinds of
samples against the mixture (modes, HQS):

- `prior`: G(z), z ~ N(0, I): what every evaluation of the method scores;
- `posterior_mean`: G(mu(x)) for real x: the encoder's code decoded;
- `posterior_sample`: G(z), z ~ q(z | x): one posterior draw per x;

and the encoder's statistics: the mean posterior std and the RMS of the
posterior means (an encoder that ignores x gives std ~1 and means ~0, the
prior itself). Writes `benchmarks/results/bms_diagnosis.json`; finished
variants in that file are kept unless `--rerun`. Not a timing: the runs may
share the machine.
"""

import argparse
import json
import os
import sys
from typing import Dict, List

import jax
import jax.numpy as jnp

from benchmarks import common
from diwgan.data import mog as mog_data
from diwgan.metrics import mog as mog_metrics
from experiments import mog
from experiments import registry
from experiments.configs import mixtures

# variant -> config overrides (on `config.methods.bms_vae_gan` unless
# dotted from the root).
VARIANTS: Dict[str, Dict[str, object]] = {
    "default": {},
    "one_sample": {"methods.bms_vae_gan.num_samples": 1},
    "rec100": {"methods.bms_vae_gan.reconstruction_weight": 100.0},
    "no_prior": {"methods.bms_vae_gan.prior_weight": 0.0},
    "no_spectral_norm": {"methods.bms_vae_gan.spectral_norm": False},
}
DESCRIPTIONS = {
    "default": "the defaults (T = 10, weights 1 / 1 / 1, spectral norm)",
    "one_sample": "T = 1 (one posterior sample: alpha-GAN with SN)",
    "rec100": "reconstruction weight 100",
    "no_prior": "prior weight 0 (no push of q(z) towards N(0, I))",
    "no_spectral_norm": "D_I without spectral norm",
}
NUM_EVAL = 2500


def _set(config, key: str, value) -> None:
  node = config
  *path, last = key.split(".")
  for name in path:
    node = node[name]
  node[last] = value


def diagnose(dataset: str, variant: str, num_steps: int, every: int,
             seed: int = 0) -> List[dict]:
  """Trains one variant; returns one record per evaluation."""
  config = mixtures.get_config(dataset)
  config.method = "bms_vae_gan"
  config.seed = seed
  (config.optimizer.generator_lr,
   config.optimizer.discriminator_lr) = registry.LEARNING_RATES[config.method]
  for key, value in VARIANTS[variant].items():
    _set(config, key, value)
  experiment = mog.build_experiment(config)
  trainer = experiment.trainer
  method, networks = trainer.method, trainer.networks
  mixture = mog_data.make_mixture(dataset)
  real = mog_data.sample_mixture(mixture, jax.random.key(seed + 101),
                                 NUM_EVAL)
  train = jax.jit(trainer.train_steps, static_argnums=1)

  @jax.jit
  def samples(generator_params):
    mean, log_variance = method.encoder(networks).apply(
        generator_params["encoder"], real)
    std = jnp.exp(0.5 * log_variance)
    eps = jax.random.normal(jax.random.key(seed + 102), mean.shape)
    decode = lambda z: networks.generator.apply(
        generator_params["generator"], z)
    return {
        "prior": networks.generate(generator_params,
                                   jax.random.key(seed + 103), NUM_EVAL),
        "posterior_mean": decode(mean),
        "posterior_sample": decode(mean + std * eps),
    }, jnp.mean(std), jnp.sqrt(jnp.mean(mean**2))

  state = experiment.initial_state()
  records = []
  for step in range(every, num_steps + 1, every):
    state, _ = train(state, every)
    drawn, std, rms = samples(state.generator_params)
    record = {"step": step, "posterior_std": float(std),
              "posterior_mean_rms": float(rms)}
    for kind, x in drawn.items():
      result = mog_metrics.mixture_metrics(x, mixture,
                                           hq_std=config.eval.hq_std)
      record[kind] = {"modes": int(result.modes), "hqs": float(result.hqs)}
    print(f"{variant} step {step}: " + "; ".join(
        f"{k} modes {record[k]['modes']} hqs {record[k]['hqs']:.3f}"
        for k in drawn) + f"; posterior std {record['posterior_std']:.3f}, "
          f"mean rms {record['posterior_mean_rms']:.3f}", flush=True)
    records.append(record)
  return records


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="ring",
                      choices=mixtures.CONFIGS)
  parser.add_argument("--variants", default="default,one_sample,rec100")
  parser.add_argument("--num_steps", type=int, default=4000)
  parser.add_argument("--every", type=int, default=1000)
  parser.add_argument("--output",
                      default="benchmarks/results/bms_diagnosis.json")
  parser.add_argument("--rerun", action="store_true",
                      help="train the variants already in --output again")
  args = parser.parse_args()
  variants = args.variants.split(",")
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown:
    parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
  if args.num_steps < args.every or args.num_steps % args.every:
    parser.error("--num_steps must be a positive multiple of --every")
  results = {"platform": common.machine_info(), "runs": {}}
  if os.path.exists(args.output):
    with open(args.output) as f:
      results["runs"] = json.load(f).get("runs", {})
  for variant in variants:
    key = f"{args.config}/{variant}"
    done = results["runs"].get(key)
    if done and done["num_steps"] == args.num_steps and not args.rerun:
      print(f"{key}: kept from {args.output}")
      continue
    results["runs"][key] = {
        "dataset": args.config, "variant": variant,
        "description": DESCRIPTIONS[variant],
        "overrides": VARIANTS[variant], "num_steps": args.num_steps,
        "records": diagnose(args.config, variant, args.num_steps,
                            args.every)}
    # Each finished variant is written at once: an interrupted sweep keeps it.
    common.finish(dict(results), args.output,
                  "python -m benchmarks.bms_diagnosis " + " ".join(
                      sys.argv[1:]))


if __name__ == "__main__":
  main()
