"""Camera-pose refinement by gradient.

Each training camera gets a learnable correction ``delta = (w, v)`` in se(3), applied in the
camera's own frame: ``R' = R Exp(w)``, ``t' = t + R v`` (``w`` in radians, ``v`` in scene units),
zero at the start.

How the gradient reaches the pose. The projector's z-buffer picks integer point indices, which
carry no gradient. The pose instead acts through *image-space flow*: every pixel showing point i
(layer 0) knows where that point projects under the corrected pose, ``u_i(delta)``, a smooth
function of the pose. The rendered image is moved by the flow ``f = u_i - stop_grad(u_i)``, to
first order: ``I'(x) = I(x) - f(x) . grad I(x)`` (central differences, held constant). In the
forward pass ``f = 0`` and ``I' = I`` exactly; in the backward pass
``dL/d delta = -sum_x dL/dI'(x) . grad I(x) . du_i/d delta``, the photometric-alignment gradient of direct image alignment: moving the camera moves the points'
footprints, and the image gradient says whether that agrees with the photos. Silhouettes (the
alpha loss) and texture both pull. Pixels without a point (background) give no pose gradient.

What the images pin down slowly: turning a camera about its x or y axis by ``w`` and sliding it
sideways by ``d w`` (``d`` the scene's depth) move the image almost alike; only parallax between
near and far points tells them apart, so the error left after training lies along that direction
and shrinks over many epochs (``benchmarks/bench_poses.py``). The pose rate therefore decays
slowly (SOLVER.POSE_LR_END_FACTOR, ``npcr.engine.optim.build_pose_lr_scheduler``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry import Cameras, rotation_exp


class CameraPoses(nn.Module):
    """Learnable pose corrections of ``num_cameras`` cameras."""

    def __init__(self, num_cameras: int):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(num_cameras, 6))

    def forward(self, camera_ids: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
        """Corrected (B, 4, 4) camera-to-world of cameras ``camera_ids`` (B,) given theirs."""
        d = self.delta[camera_ids]
        R, t = cam_to_world[:, :3, :3], cam_to_world[:, :3, 3]
        out = cam_to_world.clone()
        out[:, :3, :3] = R @ rotation_exp(d[:, :3])
        out[:, :3, 3] = t + (R @ d[:, 3:, None])[..., 0]
        return out

    @torch.no_grad()
    def apply(self, cam_to_world: torch.Tensor) -> torch.Tensor:
        """All cameras' corrected poses (M, 4, 4) given theirs (M, 4, 4)."""
        return self(torch.arange(len(self.delta), device=self.delta.device), cam_to_world)


def flow_to_pose(image: torch.Tensor, X: torch.Tensor, valid: torch.Tensor,
                 cameras: Cameras) -> torch.Tensor:
    """``image`` (B, C, H, W) moved by the zero flow of the module docstring, so that its
    gradient reaches the ``cameras``' ``cam_to_world`` (B, 4, 4). ``X`` (B, H, W, 3) is the world
    position of the point each pixel shows (layer 0) where ``valid`` (B, H, W)."""
    uv, _ = cameras.project(X, min_depth=1e-6)
    flow = torch.where(valid[..., None], uv - uv.detach(), torch.zeros_like(uv)).to(image.dtype)
    gx, gy = image_gradient(image.detach())
    return image - (flow[..., 0][:, None] * gx + flow[..., 1][:, None] * gy)


def image_gradient(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (B, C, H, W) along x and y (one-sided at the border)."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    return gx, gy
