"""The DIW-GAN set-up shared by the mixture and image experiments.

Before its first step a DIW-GAN run trains its auto-encoder, checks its
quality gate, encodes the real set, draws the fixed anchors from a KDE of the
real latents and records their quality (`anchor_quality.json`). What differs
between data sets (the auto-encoder, how its training batches are drawn, how
the anchors' quality is measured) comes in as arguments.
"""

import functools
import json
import os
from typing import Any, Callable, Dict, Optional, Tuple

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from diwgan import autoencoder as autoencoder_lib
from diwgan import methods
from experiments import records


def save_anchor_quality(workdir: Optional[str], quality: Dict[str, Any]
                        ) -> None:
  """Logs the anchors' quality and writes `<workdir>/anchor_quality.json`."""
  logging.info("Anchor quality: %s", quality)
  if workdir is not None and jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "anchor_quality.json"), "w") as f:
      json.dump(quality, f, indent=2)


def pretrained_diw_state(
    config: ml_collections.ConfigDict,
    autoencoder: nn.Module,
    real_set: Callable[[], jax.Array],
    keys: Tuple[jax.Array, jax.Array],
    workdir: Optional[str],
    *,
    sample_real: Optional[Callable[[jax.Array, int], jax.Array]] = None,
    encode_chunk: Optional[int] = None,
    anchor_quality: Optional[
        Callable[[Any, jax.Array], Dict[str, Any]]] = None,
) -> methods.DIWState:
  """Auto-encoder (gated), anchors from the encoded real set, their quality.

  1. Trains `autoencoder` with `config.autoencoder`'s steps, batch size and
     learning rate, on the real set or on batches `sample_real` draws.
  2. Its quality gate: the relative reconstruction MSE on the real set must
     be below `config.autoencoder.max_relative_mse`
     (`autoencoder_lib.AutoEncoderQualityError` otherwise).
  3. Encodes the real set and draws `config.batch_size` anchors from a KDE
     of its latents (bandwidth `config.diw.anchor_bandwidth`).
  4. Writes the quality (`save_anchor_quality`): the auto-encoder's relative
     MSE, then the entries of `anchor_quality`.

  Args:
    config: the run's config.
    autoencoder: the auto-encoder module.
    real_set: () -> the real set (n, ...) the gate measures and the anchors'
      KDE encodes.
    keys: (auto-encoder key, anchor key).
    workdir: where `anchor_quality.json` goes (None: only logged).
    sample_real: (key, batch) -> real data, for data built per batch: the
      auto-encoder trains on these batches and the real set is drawn after
      its training. None: the real set is drawn first and trained on.
    encode_chunk: encode the real set this many at a time (None: at once).
    anchor_quality: (auto-encoder params, anchors) -> {name: value} of the
      anchors' quality, for the data set's own metrics (None: none).

  Returns:
    The fresh DIW state around the trained encoder and the anchors.
  """
  ae = config.autoencoder
  ae_key, anchor_key = keys
  training = dict(steps=ae.steps, batch_size=ae.batch_size,
                  learning_rate=ae.learning_rate)
  if sample_real is None:
    real = real_set()
    ae_params = autoencoder_lib.train_autoencoder(
        autoencoder, real, ae_key, **training)
  else:
    ae_params = autoencoder_lib.train_autoencoder_on_sampler(
        autoencoder, sample_real, ae_key, **training)
    real = real_set()
  report = autoencoder_lib.reconstruction_report(autoencoder, ae_params, real)
  logging.info("Auto-encoder: relative MSE %.3g (bound %g).",
               float(report.relative_mse), ae.max_relative_mse)
  autoencoder_lib.check_quality(report, max_relative_mse=ae.max_relative_mse)

  encode = jax.jit(functools.partial(autoencoder.apply,
                                     method=autoencoder.encode))
  chunk = encode_chunk or real.shape[0]
  real_latents = jnp.concatenate([
      encode(ae_params, real[i : i + chunk])
      for i in range(0, real.shape[0], chunk)])
  del real
  draw = jax.jit(methods.draw_anchors, static_argnums=2,
                 static_argnames="bandwidth")
  anchors = draw(real_latents, anchor_key, config.batch_size,
                 bandwidth=config.diw.anchor_bandwidth)

  quality = {"autoencoder_relative_mse": float(report.relative_mse)}
  if anchor_quality is not None:
    quality.update({
        name: records.to_python(value)
        for name, value in anchor_quality(ae_params, anchors).items()})
  save_anchor_quality(workdir, quality)
  return methods.init_diw_state(
      ae_params, anchors, history=config.diw.history)
