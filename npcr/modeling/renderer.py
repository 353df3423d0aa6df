"""The neural point renderer: learned point features, depth-peeled gathering, antialiased U-Net."""
from __future__ import annotations

import torch
import torch.nn as nn

import pcpr_ext

from .unet import AntialiasedUNet


class PointRenderer(nn.Module):
    """Renders RGB + alpha of a point cloud from cameras.

    Per-point features (N, C) and a background feature (C,) are gathered through L projected layers,
    concatenated to L*C channels and decoded by the U-Net into RGB and alpha (sigmoid).
    """

    def __init__(self, num_points: int, feature_dim: int, num_layers: int, unet_channels: list[int],
                 max_splat: int = 1, near: float = 0.1, far: float = 100.0, backend: str = "auto"):
        super().__init__()
        self.features = nn.Parameter(torch.randn(num_points, feature_dim))
        self.background = nn.Parameter(torch.zeros(feature_dim))
        self.unet = AntialiasedUNet(num_layers * feature_dim, 4, unet_channels)
        self.num_layers, self.max_splat = num_layers, max_splat
        self.near, self.far, self.backend = near, far, backend

    def project(self, points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth (B, L, H, W) and point index (B, L, H, W) of ``points`` seen by the cameras."""
        return pcpr_ext.project(points, K, cam_to_world, height, width, num_layers=self.num_layers,
                                near=self.near, far=self.far, max_splat=self.max_splat,
                                backend=self.backend)

    def forward(self, points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                height: int, width: int) -> dict[str, torch.Tensor]:
        """Returns ``rgb`` (B, 3, H, W), ``alpha`` (B, 1, H, W) in [0, 1] and layer ``depth``."""
        depth, index = self.project(points, K, cam_to_world, height, width)
        feats = pcpr_ext.gather_features(self.features, index, self.background)
        out = torch.sigmoid(self.unet(feats.flatten(1, 2)))
        return {"rgb": out[:, :3], "alpha": out[:, 3:], "depth": depth}
