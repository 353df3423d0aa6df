"""Models built from the config."""
from yacs.config import CfgNode

from .renderer import PointRenderer
from .unet import AntialiasedUNet

__all__ = ["PointRenderer", "AntialiasedUNet", "build_model"]


def build_model(cfg: CfgNode, num_points: int) -> PointRenderer:
    """The point renderer described by ``cfg.MODEL`` for a cloud of ``num_points`` points."""
    m = cfg.MODEL
    return PointRenderer(num_points, m.FEATURE_DIM, m.NUM_LAYERS, list(m.UNET_CHANNELS),
                         max_splat=m.MAX_SPLAT, near=m.NEAR, far=m.FAR, backend=m.BACKEND)
