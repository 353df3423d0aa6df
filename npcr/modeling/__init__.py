"""Models built from the config."""
from __future__ import annotations

from yacs.config import CfgNode

from .refine import TemporalRefiner, build_refiner
from .renderer import FrameClouds, PointRenderer
from .unet import AntialiasedUNet

__all__ = ["FrameClouds", "PointRenderer", "AntialiasedUNet", "TemporalRefiner", "build_model",
           "build_refiner"]


def build_model(cfg: CfgNode, num_points: int,
                depth_range: tuple[float, float] | None = None) -> PointRenderer:
    """The point renderer described by ``cfg.MODEL`` for a cloud of ``num_points`` points.

    ``depth_range`` (near, far) overrides MODEL.NEAR / MODEL.FAR (the engines resolve 0 = automatic).
    """
    m = cfg.MODEL
    near, far = depth_range if depth_range is not None else (m.NEAR, m.FAR)
    return PointRenderer(num_points, m.FEATURE_DIM, m.NUM_LAYERS, list(m.UNET_CHANNELS),
                         max_splat=m.MAX_SPLAT, near=near, far=far, backend=m.BACKEND)
