"""Image quality figures, written once: PSNR over the pixels a photo covers, and PSNR once a
render's colours are fitted to the photo."""
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


def colour_matched_psnr(pred: torch.Tensor, truth: torch.Tensor,
                        valid: torch.Tensor | None = None) -> float:
    """PSNR of ``pred`` (1, 3, H, W) against ``truth`` after each of its channels is fitted to the
    truth's by a gain and an offset (least squares over the ``valid`` pixels): how far a render
    is from a photo apart from exposure and white balance, which the photo's own camera
    settings decide. The fitted render is clipped to [0, 1]."""
    pred, truth = pred.double(), truth.double()
    weight = torch.ones_like(pred[:, :1]) if valid is None else valid.double().expand_as(pred[:, :1])
    fitted = torch.empty_like(pred)
    w = weight.flatten()
    for ch in range(pred.shape[1]):
        x, y = pred[:, ch].flatten(), truth[:, ch].flatten()
        A = torch.stack([x, torch.ones_like(x)], 1) * w[:, None]
        gain, offset = torch.linalg.lstsq(A, y * w).solution
        fitted[:, ch] = (gain * pred[:, ch] + offset).clamp(0, 1)
    return psnr(fitted, truth, valid)
