"""Flax networks: MLPs for the mixtures (and conv nets for images)."""

from diwgan.models.mlp import MLP, MLPAutoEncoder, MLPDiscriminator, MLPGenerator

__all__ = ["MLP", "MLPAutoEncoder", "MLPDiscriminator", "MLPGenerator"]
