"""Image quality figures, written once, for the model, the baselines, the evaluator and the
benchmarks alike: PSNR and SSIM over the pixels a photo covers (an undistorted photo has corners
with no source, which no figure may count), PSNR once a render's colours are fitted to the photo,
and the same PSNR and SSIM as ignite metrics for the engines."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # the Gaussian window of Wang et al. 2004 (pytorch_msssim's too)


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


def _ssim_map(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(B, C, H - 10, W - 10) SSIM of images in [0, 1], the 11x11 Gaussian window (sigma 1.5)
    placed wherever it fits (as pytorch_msssim computes it), constants K1 0.01, K2 0.03."""
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=pred.device) - SSIM_WINDOW // 2
    g = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    g = (g / g.sum()).float()
    c = pred.shape[1]

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(t, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    pred, truth = pred.float(), truth.float()
    mu_x, mu_y = blur(pred), blur(truth)
    var_x = blur(pred * pred) - mu_x ** 2
    var_y = blur(truth * truth) - mu_y ** 2
    cov = blur(pred * truth) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))


def ssim(pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor | None = None) -> float:
    """Mean SSIM of ``pred`` against ``truth`` ((B, C, H, W), values in [0, 1]) over the windows
    that lie wholly inside the pixels where ``valid`` ((B, 1, H, W)) is non-zero when given (no
    window sees a pixel without a source). Images smaller than the window count as 0."""
    if min(pred.shape[-2:]) < SSIM_WINDOW:
        return 0.0
    values = _ssim_map(pred, truth)
    if valid is None:
        return float(values.mean())
    inside = -F.max_pool2d(-(valid.float() > 0).float(), SSIM_WINDOW, stride=1)
    weight = inside.expand_as(values)
    return float((values * weight).sum() / weight.sum().clamp_min(1))


class _PerImage(Metric):
    """The mean over images of ``figure(pred, truth, valid)`` for engine outputs
    ``(pred, truth, valid)`` of shape (B, 3, H, W), (B, 3, H, W), (B, 1, H, W)."""

    figure = staticmethod(psnr)

    @reinit__is_reduced
    def reset(self) -> None:
        self._sum = torch.tensor(0.0, dtype=torch.float64, device=self._device)
        self._count = 0

    @reinit__is_reduced
    def update(self, output: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        pred, truth, valid = output
        for i in range(pred.shape[0]):
            self._sum += self.figure(pred[i:i + 1], truth[i:i + 1], valid[i:i + 1])
        self._count += pred.shape[0]

    @sync_all_reduce("_sum", "_count")
    def compute(self) -> float:
        return float(self._sum) / max(self._count, 1)


class MaskedPSNR(_PerImage):
    """``psnr`` over each image's valid pixels, averaged over images (ignite metric)."""
    figure = staticmethod(psnr)


class MaskedSSIM(_PerImage):
    """``ssim`` over each image's valid windows, averaged over images (ignite metric)."""
    figure = staticmethod(ssim)
