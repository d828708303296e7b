"""Training methods: each a `training.Method` plugged into the one step."""

from diwgan.methods.diwgan import DIWGAN, DIWState, draw_anchors, init_diw_state

__all__ = ["DIWGAN", "DIWState", "draw_anchors", "init_diw_state"]
