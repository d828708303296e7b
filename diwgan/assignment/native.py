"""The compiled CPU kernel of the square Gauss-Seidel auction (XLA FFI).

`pip install -e .` compiles `auction_kernel.cc` into
`diwgan.assignment._auction_kernel` when a C++17 compiler is at hand (it is
optional: without one the install succeeds and the auction runs in pure
JAX). The kernel replaces the driver's loop over eps phases for square
problems with Gauss-Seidel bidding on the CPU: same bids, same order, same
float32 arithmetic, so it returns what the pure-JAX loop returns (tested
bitwise in tests/test_assignment_native.py), without XLA's per-iteration cost
of a `while_loop` that makes one bid per iteration (docs/benchmarks.md).

It is an ordinary XLA custom call: it runs under jit, vmap (a batch of
problems is solved one after the other in one call), lax.scan and shard_map.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

TARGET = "diwgan_gauss_seidel_auction"


@functools.lru_cache(maxsize=None)
def _load() -> Optional[str]:
  """Registers the kernel once; returns why it is unavailable, or None."""
  try:
    from diwgan.assignment import _auction_kernel  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    return f"the compiled kernel was not built ({error})"
  jax.ffi.register_ffi_target(
      TARGET, _auction_kernel.gauss_seidel_auction(), platform="cpu")
  return None


def available() -> bool:
  """True when the compiled kernel was built and registered.

  Example:
    >>> isinstance(available(), bool)
    True
  """
  return _load() is None


def unavailable_reason() -> Optional[str]:
  """Why the kernel is unavailable (None when it is available)."""
  return _load()


def gauss_seidel_phases(
    benefit: jax.Array,
    prices: jax.Array,
    assign: jax.Array,
    eps: jax.Array,
    eps_final: jax.Array,
    eps_decay: jax.Array,
    max_rounds: jax.Array,
    done: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """The eps phases of a square auction, Gauss-Seidel bidding, compiled.

  The arguments are the driver's state after normalisation and warm start
  (see `diwgan.assignment.driver`); call only on the CPU, and only when
  `available()`.

  Args:
    benefit: (n, n) float32 benefits (negated costs normalised to [0, 1];
      forbidden pairs at -2 (n + 1)).
    prices: (n,) float32 prices in benefit units.
    assign: (n,) int32 column of each row, -1 for a free row (a matching:
      no column twice).
    eps: () float32 first eps.
    eps_final: () float32 last eps.
    eps_decay: () float32 factor between phases.
    max_rounds: () int32 cap on the bids.
    done: () bool, True if there is nothing to solve.

  Returns:
    (prices (n,), assign (n,), rounds (), done ()): the final prices and
    assignment (-1 where the cap stopped the solve), the bids made and
    whether `eps_final` was reached with every row assigned.
  """
  reason = _load()
  if reason is not None:
    raise RuntimeError(f"The auction kernel is unavailable: {reason}.")
  n = benefit.shape[-1]
  batch = benefit.shape[:-2]
  call = jax.ffi.ffi_call(
      TARGET,
      (jax.ShapeDtypeStruct(batch + (n,), jnp.float32),
       jax.ShapeDtypeStruct(batch + (n,), jnp.int32),
       jax.ShapeDtypeStruct(batch, jnp.int32),
       jax.ShapeDtypeStruct(batch, jnp.bool_)),
      vmap_method="broadcast_all",
  )
  return call(
      jax.lax.stop_gradient(benefit.astype(jnp.float32)),
      jax.lax.stop_gradient(prices.astype(jnp.float32)),
      assign.astype(jnp.int32),
      jnp.asarray(eps, jnp.float32), jnp.asarray(eps_final, jnp.float32),
      jnp.asarray(eps_decay, jnp.float32),
      jnp.asarray(max_rounds, jnp.int32), jnp.asarray(done, jnp.bool_))
