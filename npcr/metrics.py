"""Image quality figures, written once: PSNR over the pixels a photo covers."""
from __future__ import annotations

import math

import torch


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of images in [0, 1] whose mean squared error is ``mse``."""
    return 10 * math.log10(1.0 / max(float(mse), 1e-12))


def psnr(pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor | None = None) -> float:
    """PSNR (dB) of ``pred`` against ``truth`` (same shape, channels at dim -3, values in [0, 1]),
    over the pixels where ``valid`` (broadcastable, channel dim 1) is non-zero when given."""
    err = (pred.float() - truth.float()) ** 2
    if valid is None:
        return psnr_from_mse(err.mean())
    weight = valid.float().expand_as(err)
    return psnr_from_mse((err * weight).sum() / weight.sum().clamp_min(1))
