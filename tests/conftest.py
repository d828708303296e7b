"""Strict JAX settings for every test: rank promotion raises, float32."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_enable_x64", False)


@pytest.fixture
def debug_nans():
  """Turns on `jax_debug_nans` for a numerical test."""
  jax.config.update("jax_debug_nans", True)
  try:
    yield
  finally:
    jax.config.update("jax_debug_nans", False)


@pytest.fixture(scope="module")
def fast_compile():
  """Skips XLA's optimisations for a module of tiny models, which run in
  microseconds: ~35% less compile time, most of such tests' cost."""
  saved = jax.config.values["jax_disable_most_optimizations"]
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", saved)
