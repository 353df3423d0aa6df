"""The temporal refine net: blends the current render with earlier outputs warped into its view."""
from __future__ import annotations

import torch
import torch.nn as nn
from yacs.config import CfgNode

from ..modeling.unet import AntialiasedUNet

# Initial preference of the current render over history (a logit): the net starts close to
# passing the render through, so refinement begins from the raw renderer's quality.
_CURRENT_BIAS = 3.0


class TemporalRefiner(nn.Module):
    """RGBA (B, 4, H, W) of the current render plus ``num_prev`` earlier outputs warped into this
    view (B, K, 4, H, W) with their validity (B, K, 1, H, W) -> refined RGBA (B, 4, H, W).

    An antialiased U-Net predicts per pixel softmax weights over the current render and the valid
    warped frames (invalid ones get none) and a residual correction (starting at zero):
    ``out = clamp(sum_k w_k frame_k + residual, 0, 1)``. Weights make stability cheap to learn
    (trust history where it agrees); the residual fixes what blending cannot. The current render
    always keeps at least ``min_current`` of the weight, so what history carries fades
    geometrically (as in temporal antialiasing) instead of being resampled along the whole path
    and drifting or blurring.
    """

    def __init__(self, num_prev: int, channels: list[int], min_current: float = 0.25,
                 blur_pool: str = "antialiased-cnns"):
        super().__init__()
        if not 0 < min_current <= 1:
            raise ValueError(f"min_current must be in (0, 1], got {min_current}")
        self.num_prev, self.min_current = num_prev, min_current
        self.net = AntialiasedUNet(4 + 5 * num_prev, num_prev + 1 + 4, channels,
                                   blur_pool=blur_pool)
        with torch.no_grad():
            self.net.head.weight.zero_()
            self.net.head.bias.zero_()
            self.net.head.bias[0] = _CURRENT_BIAS

    def forward(self, current: torch.Tensor, warped: torch.Tensor,
                valid: torch.Tensor) -> torch.Tensor:
        b, k, _, h, w = warped.shape
        if k != self.num_prev:
            raise ValueError(f"expected {self.num_prev} previous frames, got {k}")
        y = self.net(torch.cat([current, warped.flatten(1, 2), valid.flatten(1, 2)], 1))
        logits, residual = y[:, :k + 1], y[:, k + 1:]
        invalid = torch.cat([torch.zeros_like(valid[:, :1, 0]), 1 - valid[:, :, 0]], 1) > 0.5
        weights = (1 - self.min_current) * torch.softmax(logits.masked_fill(invalid, float("-inf")), 1)
        weights[:, 0] += self.min_current
        frames = torch.cat([current[:, None], warped], 1)
        return ((weights[:, :, None] * frames).sum(1) + residual).clamp(0, 1)


def build_refiner(cfg: CfgNode) -> TemporalRefiner:
    """The refine net described by ``cfg.REFINE`` (its U-Net halves with MODEL.BLUR_POOL)."""
    return TemporalRefiner(cfg.REFINE.NUM_PREV, list(cfg.REFINE.CHANNELS),
                           cfg.REFINE.MIN_CURRENT_WEIGHT, cfg.MODEL.BLUR_POOL)
