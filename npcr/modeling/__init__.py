"""Models built from the config."""
from __future__ import annotations

from yacs.config import CfgNode

from .graphed import GraphedRenderer
from .photometric import PhotometricCorrection
from .renderer import FrameClouds, PointRenderer
from .unet import AntialiasedUNet

__all__ = ["AntialiasedUNet", "FrameClouds", "GraphedRenderer", "PhotometricCorrection",
           "PointRenderer", "build_model"]


def build_model(cfg: CfgNode, num_points: int,
                depth_range: tuple[float, float] | None = None, opaque: bool = False,
                num_cameras: int = 0, train_cameras: list[int] = ()) -> PointRenderer:
    """The point renderer described by ``cfg.MODEL`` for a cloud of ``num_points`` points.

    ``depth_range`` (near, far) overrides MODEL.NEAR / MODEL.FAR (the engines resolve 0 = automatic);
    ``opaque`` for photos without mattes; with MODEL.PHOTOMETRIC on, a correction for each of the
    ``num_cameras`` photos, taken relative to the ``train_cameras``.
    """
    m, p = cfg.MODEL, cfg.MODEL.PHOTOMETRIC
    near, far = depth_range if depth_range is not None else (m.NEAR, m.FAR)
    photometric = None
    if p.EXPOSURE or p.WHITE_BALANCE or p.VIGNETTING:
        photometric = PhotometricCorrection(num_cameras, list(train_cameras), p.EXPOSURE,
                                            p.WHITE_BALANCE, p.VIGNETTING)
    return PointRenderer(num_points, m.FEATURE_DIM, m.NUM_LAYERS, list(m.UNET_CHANNELS),
                         max_splat=m.MAX_SPLAT, near=near, far=far, backend=m.BACKEND,
                         opaque=opaque, photometric=photometric,
                         environment=tuple(m.ENVIRONMENT), supersample=m.SUPERSAMPLE,
                         point_levels=m.POINT_LEVELS, max_render_scale=m.MAX_RENDER_SCALE,
                         view_direction=m.VIEW_DIRECTION, splat_skip=m.SPLAT_SKIP,
                         input_kernel=m.UNET_INPUT_KERNEL, blur_pool=m.BLUR_POOL)
