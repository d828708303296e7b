"""Training methods: each a `training.Method` plugged into the one step."""

from diwgan.methods.bms_vae_gan import BMSVAEGAN
from diwgan.methods.diwgan import DIWGAN, DIWState, draw_anchors, init_diw_state
from diwgan.methods.gne import GNE
from diwgan.methods.pacgan import PacGAN
from diwgan.methods.unrolled import UnrolledGAN
from diwgan.methods.veegan import VEEGAN

__all__ = [
    "BMSVAEGAN", "DIWGAN", "DIWState", "GNE", "PacGAN", "UnrolledGAN",
    "VEEGAN", "draw_anchors", "init_diw_state",
]
