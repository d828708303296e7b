"""Strict JAX settings for every test (see STYLE.md)."""

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
