"""What an experiment family builds for the loop, one run or seeds stacked.

A family (`experiments.mog`, `experiments.images`) turns a config into an
`Experiment`: the bound `Trainer` (`make_trainer`), how to build a fresh or a
template state, how to evaluate and plot. `build_runs` builds one run, or
`config.num_seeds` runs stacked under `jax.vmap` (`stack_seeds`), and
`experiments.loop.train` runs it.
"""

import copy
import dataclasses
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import ml_collections
import numpy as np

from diwgan import parallel
from diwgan import training
from diwgan.training import Trainer, TrainState
from experiments import records


@dataclasses.dataclass
class Experiment:
  """What `experiments.loop.train` needs from an experiment.

  Attributes:
    trainer: the bound method, networks and optimizers.
    initial_state: builds the state of a fresh run (may pretrain the
      auto-encoder and draw anchors: expensive, called only without a
      checkpoint).
    template_state: builds a state of the same structure cheaply, to restore
      a checkpoint into.
    evaluate: (state) -> dict of scalar metrics of the current generator.
    plot: optional (state, path) -> writes a PNG of samples.
    summary_plot: optional (eval_records, path) -> writes a PNG of curves.
    seeds: None for one run; for runs vmapped together (`stack_seeds`), the
      seed of each run: the states then have a leading run axis and
      `evaluate` returns a (runs,) array per metric.
    quality: optional bar on the metrics of one run (e.g. all modes and
      HQS >= 80%); the loop reports when it was first passed.
  """

  trainer: Trainer
  initial_state: Callable[[], TrainState]
  template_state: Callable[[], TrainState]
  evaluate: Callable[[TrainState], Dict[str, Any]]
  plot: Optional[Callable[[TrainState, str], None]] = None
  summary_plot: Optional[Callable[[list, str], None]] = None
  seeds: Optional[Tuple[int, ...]] = None
  quality: Optional[Callable[[Dict[str, Any]], bool]] = None


def stack_seeds(experiments: Sequence[Experiment], seeds: Sequence[int]
                ) -> Experiment:
  """One experiment training the runs of `experiments` together (vmap).

  The runs must differ only in their seed: they share the first run's
  trainer. Each run keeps its own initial state (its auto-encoder, anchors,
  parameters, key), pretrained one after the other by its own
  `initial_state`, so every run starts exactly as it would alone.

  Args:
    experiments: one experiment per seed.
    seeds: the seed of each.

  Returns:
    An `Experiment` whose states have a leading run axis.
  """
  experiments = tuple(experiments)
  if len(experiments) != len(seeds) or not experiments:
    raise ValueError(f"Need one experiment per seed, got {len(experiments)} "
                     f"experiments for seeds {list(seeds)}.")

  def evaluate(states):
    per_run = [e.evaluate(parallel.select_run(states, i))
               for i, e in enumerate(experiments)]
    return {name: np.array([records.to_python(r[name]) for r in per_run])
            for name in per_run[0]}

  first = experiments[0]
  return Experiment(
      trainer=first.trainer,
      initial_state=lambda: parallel.stack_runs(
          [e.initial_state() for e in experiments]),
      template_state=lambda: parallel.stack_runs(
          [e.template_state() for e in experiments]),
      evaluate=evaluate,
      plot=(None if first.plot is None else
            lambda states, path: first.plot(
                parallel.select_run(states, 0), path)),
      summary_plot=first.summary_plot,
      seeds=tuple(int(s) for s in seeds),
      quality=first.quality,
  )


def seed_config(config: ml_collections.ConfigDict, seed: int
                ) -> ml_collections.ConfigDict:
  """`config` for the single run of `seed` (what that seed alone would run)."""
  single = copy.deepcopy(config)
  with single.unlocked():
    single.seed = seed
    single.num_seeds = 1
  return single


def build_runs(
    build: Callable[[ml_collections.ConfigDict, Optional[str]], Experiment],
    config: ml_collections.ConfigDict,
    workdir: Optional[str] = None,
) -> Experiment:
  """`build(config, workdir)`, or the `config.num_seeds` runs stacked.

  Args:
    build: builds the experiment of one run from its config; per-run files
      (anchor quality, say) go to the given folder.
    config: the config; `num_seeds` > 1 (default 1) trains seeds
      `config.seed + i`, i < num_seeds, together under vmap.
    workdir: the run's folder; seed `s` of several gets `<workdir>/seed_<s>`.

  Returns:
    The experiment for `experiments.loop.train`.
  """
  num_seeds = config.get("num_seeds", 1)
  if num_seeds <= 1:
    return build(config, workdir)
  seeds = [config.seed + i for i in range(num_seeds)]
  return stack_seeds(
      [build(seed_config(config, s),
             None if workdir is None else os.path.join(workdir, f"seed_{s}"))
       for s in seeds],
      seeds)


def make_trainer(
    config: ml_collections.ConfigDict,
    networks: training.Networks,
    method: Any,
    sample_real: Callable[..., Any],
) -> Trainer:
  """The `Trainer` of `config`: its optimizers, batch and D steps per G step."""
  opt = config.optimizer

  def optimizer(learning_rate, num_steps):
    return training.make_optimizer(
        learning_rate, num_steps=num_steps, b1=opt.b1, b2=opt.b2,
        decay=opt.decay, final_fraction=opt.final_fraction)

  return Trainer(
      networks=networks,
      method=method,
      generator_optimizer=optimizer(opt.generator_lr, config.num_steps),
      discriminator_optimizer=optimizer(
          opt.discriminator_lr,
          config.num_steps * config.discriminator_steps),
      sample_real=sample_real,
      batch_size=config.batch_size,
      discriminator_steps=config.discriminator_steps,
      simultaneous=config.get("simultaneous_updates", False),
      shared_draws=config.get("shared_draws", False),
  )

