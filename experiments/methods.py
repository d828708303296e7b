"""Builds the `training.Method` named by `config.method`."""

from typing import Any, Callable, Optional

import ml_collections

from diwgan import methods

# Methods that match in the latent space of a pre-trained auto-encoder.
AUTOENCODER_METHODS = ("diwgan",)
METHODS = ("gan",) + AUTOENCODER_METHODS


def needs_autoencoder(name: str) -> bool:
  return name in AUTOENCODER_METHODS


def _clip(value) -> Optional[tuple]:
  low, high = value
  return None if (low, high) == (0.0, 0.0) else (float(low), float(high))


def make_method(
    config: ml_collections.ConfigDict,
    encode: Optional[Callable[[Any, Any], Any]] = None,
):
  """The method of `config.method`; `encode` is the frozen encoder's apply."""
  name = config.method
  if name not in METHODS:
    raise ValueError(
        f"Unknown method {name!r}; valid methods: {', '.join(METHODS)}."
    )
  if name == "gan":
    return methods.DIWGAN(matching=False, name="gan")
  diw = config.diw
  return methods.DIWGAN(
      encode=encode,
      alpha=diw.alpha,
      distance=diw.distance,
      matcher=diw.matcher,
      random_matching=diw.random_matching,
      use_generator_weights=diw.use_generator_weights,
      use_target_weights=diw.use_target_weights,
      generator_bandwidth=diw.generator_bandwidth,
      generator_weight_exponent=diw.generator_weight_exponent,
      target_weight_exponent=diw.target_weight_exponent,
      generator_weight_clip=_clip(diw.generator_weight_clip),
      target_weight_clip=_clip(diw.target_weight_clip),
      name=name,
  )
