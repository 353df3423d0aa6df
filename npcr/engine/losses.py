"""The training loss: L1 on RGB and alpha, and optionally 1 - SSIM on RGB (pytorch_msssim)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from yacs.config import CfgNode


class ImageLoss:
    """RGB_WEIGHT * L1(rgb) + ALPHA_WEIGHT * L1(alpha) + SSIM_WEIGHT * (1 - SSIM(rgb))."""

    def __init__(self, cfg: CfgNode):
        s = cfg.SOLVER
        self.rgb_weight, self.alpha_weight, self.ssim_weight = s.RGB_WEIGHT, s.ALPHA_WEIGHT, \
            s.SSIM_WEIGHT

    def __call__(self, out: dict, batch: dict) -> dict[str, torch.Tensor]:
        """The total ``loss`` and its named terms."""
        terms = {"rgb_l1": F.l1_loss(out["rgb"], batch["image"]),
                 "alpha_l1": F.l1_loss(out["alpha"], batch["alpha"])}
        loss = self.rgb_weight * terms["rgb_l1"] + self.alpha_weight * terms["alpha_l1"]
        if self.ssim_weight > 0:
            terms["ssim"] = ssim(out["rgb"], batch["image"], data_range=1.0)
            loss = loss + self.ssim_weight * (1 - terms["ssim"])
        terms["loss"] = loss
        return terms
