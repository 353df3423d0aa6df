"""The training loss: L1 on RGB and alpha, optionally 1 - SSIM on RGB (pytorch_msssim) and a VGG-16
perceptual term (local weights only)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from yacs.config import CfgNode

from .perceptual import VGGPerceptualLoss, default_weights_path


class ImageLoss:
    """RGB_WEIGHT * L1(rgb) + ALPHA_WEIGHT * L1(alpha) + SSIM_WEIGHT * (1 - SSIM(rgb))
    + VGG_WEIGHT * perceptual(rgb)."""

    def __init__(self, cfg: CfgNode, device: torch.device = torch.device("cpu")):
        s = cfg.SOLVER
        self.rgb_weight, self.alpha_weight, self.ssim_weight = s.RGB_WEIGHT, s.ALPHA_WEIGHT, \
            s.SSIM_WEIGHT
        self.vgg_weight, self.vgg = s.VGG_WEIGHT, None
        if self.vgg_weight > 0:
            self.vgg = VGGPerceptualLoss(s.VGG_WEIGHTS or default_weights_path()).to(device)

    def __call__(self, out: dict, batch: dict) -> dict[str, torch.Tensor]:
        """The total ``loss`` and its named terms. Pixels where ``batch["valid"]`` is 0 (no
        source in an undistorted photo) count in none of them: the L1 terms average over valid
        pixels, and SSIM and VGG see the photo there replaced by the prediction. Under pose
        refinement only the L1 terms move the cameras: SSIM and VGG see ``rgb_fixed_pose``, the
        same image without the pose's gradient. That gradient is a linearised per-pixel
        photometric alignment (npcr.modeling.poses); through SSIM it led the cameras astray
        (demo scene, 2 degrees and 2% off, 30 epochs: 1.8 degrees left and 21.3 dB held-out with
        it, 0.8 degrees and 24.8 dB without; ``benchmarks/bench_poses.py``)."""
        valid = batch.get("valid")
        image, alpha = batch["image"], batch["alpha"]
        rgb = out.get("rgb_fixed_pose", out["rgb"])  # for the terms that must not move cameras
        if valid is not None and not bool(valid.all()):
            image = torch.where(valid > 0, image, out["rgb"].detach())
            alpha = torch.where(valid > 0, alpha, out["alpha"].detach())
            scale = valid.numel() / valid.sum().clamp_min(1)  # a mean over the valid pixels
        else:
            scale = 1.0
        terms = {"rgb_l1": F.l1_loss(out["rgb"], image) * scale,
                 "alpha_l1": F.l1_loss(out["alpha"], alpha) * scale}
        loss = self.rgb_weight * terms["rgb_l1"] + self.alpha_weight * terms["alpha_l1"]
        if self.ssim_weight > 0:
            terms["ssim"] = ssim(rgb, image, data_range=1.0)
            loss = loss + self.ssim_weight * (1 - terms["ssim"])
        if self.vgg is not None:
            terms["vgg"] = self.vgg(rgb, image)
            loss = loss + self.vgg_weight * terms["vgg"]
        terms["loss"] = loss
        return terms
