"""Flax networks: MLPs for the mixtures, conv nets for images."""

from diwgan.models.conv import ConvAutoEncoder, ConvDiscriminator, ConvGenerator
from diwgan.models.mlp import (MLP, MLPAutoEncoder, MLPDiscriminator,
                               MLPGenerator, population_statistics)

__all__ = [
    "ConvAutoEncoder", "ConvDiscriminator", "ConvGenerator",
    "MLP", "MLPAutoEncoder", "MLPDiscriminator", "MLPGenerator",
    "population_statistics",
]
