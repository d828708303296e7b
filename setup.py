"""Builds the optional compiled auction kernel (an XLA FFI custom call).

Everything else is declared in pyproject.toml. The kernel needs a C++17
compiler and the XLA FFI headers that ship with jaxlib (a build requirement).
It is optional: without a compiler the install still succeeds and
`diwgan.assignment` runs the same auction in pure JAX
(`diwgan.assignment.native.available()` tells which).
"""

import importlib.util
import os

import setuptools
from setuptools.command.build_ext import build_ext


def _ffi_include_dir() -> str:
  """jaxlib's include folder (what `jax.ffi.include_dir()` returns)."""
  spec = importlib.util.find_spec("jaxlib")
  if spec is None or not spec.submodule_search_locations:
    raise RuntimeError("jaxlib is needed to build the auction kernel.")
  return os.path.join(list(spec.submodule_search_locations)[0], "include")


class BuildExt(build_ext):
  """Adds the XLA FFI headers at build time, once jaxlib is installed."""

  def build_extensions(self):
    for extension in self.extensions:
      extension.include_dirs.append(_ffi_include_dir())
    super().build_extensions()


setuptools.setup(
    ext_modules=[
        setuptools.Extension(
            "diwgan.assignment._auction_kernel",
            sources=["diwgan/assignment/auction_kernel.cc"],
            language="c++",
            # -ffp-contract=off: no fused multiply-adds, so every float32
            # operation rounds as in the JAX loop the kernel replaces.
            extra_compile_args=["-std=c++17", "-O3", "-ffp-contract=off",
                                "-fvisibility=hidden"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
