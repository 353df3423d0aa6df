"""Per-photo exposure, white balance and vignetting (ADOP's photometric camera model).

Real photos of one scene differ in exposure and white balance; a renderer trained on them without a
model of that spends capacity on it and renders new views with a muddle of the photos' settings.
Here each training photo gets a learned exposure (one log gain) and white balance (three log gains
with zero mean), applied to the rendered RGB before the loss, and optionally one vignetting falloff
shared by all photos. Corrections are taken relative to their mean over the training photos, so
the uncorrected render is the average photo; renders are uncorrected unless a photo's correction
is asked for.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..geometry import Cameras, camera_rays


class PhotometricCorrection(nn.Module):
    """``forward(rgb (B, 3, H, W), camera_ids (B,), cameras (B) of the render)`` -> corrected RGB."""

    def __init__(self, num_cameras: int, train_cameras: list[int], exposure: bool = True,
                 white_balance: bool = True, vignetting: bool = False):
        super().__init__()
        self.exposure, self.white_balance = exposure, white_balance
        self.log_gain = nn.Parameter(torch.zeros(num_cameras, 3))
        self.vignette = nn.Parameter(torch.zeros(2)) if vignetting else None
        trained = torch.zeros(num_cameras, dtype=torch.bool)
        trained[list(train_cameras)] = True
        self.register_buffer("trained", trained)

    def gains(self, camera_ids: torch.Tensor) -> torch.Tensor:
        """(B, 3) RGB gains of the photos ``camera_ids``."""
        log_gain = self.log_gain - self.log_gain[self.trained].mean(0)
        exposure = log_gain.mean(1, keepdim=True)
        log = torch.zeros_like(log_gain)
        if self.exposure:
            log = log + exposure
        if self.white_balance:
            log = log + log_gain - exposure
        return torch.exp(log[camera_ids])

    def falloff(self, cameras: Cameras) -> torch.Tensor:
        """(B, 1, H, W) vignetting factor 1 + a r^2 + b r^4, r the distance from the principal
        point in focal lengths (unchanged by resizing, zooming or cropping)."""
        r2 = camera_rays(cameras.K, cameras.height, cameras.width)[..., :2].square().sum(-1)
        return (1 + self.vignette[0] * r2 + self.vignette[1] * r2 * r2)[:, None]

    def forward(self, rgb: torch.Tensor, camera_ids: torch.Tensor,
                cameras: Cameras) -> torch.Tensor:
        out = rgb * self.gains(camera_ids.to(rgb.device))[:, :, None, None]
        if self.vignette is not None:
            out = out * self.falloff(cameras)
        return out
