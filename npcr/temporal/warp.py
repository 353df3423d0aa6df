"""Reprojection of an earlier frame into the current view with the current view's depth.

Cameras follow the projection contract (pcpr_ext/PROJECTION.md): OpenCV axes, camera-to-world
matrices, pixel centres at integer coordinates, depth = camera z, 0 where nothing was rendered.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..geometry import Cameras, camera_rays, points_to_world


def unproject(depth: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """World points (B, H, W, 3) of every pixel of ``depth`` (B, 1, H, W) seen by ``cameras``
    (B, at the depth's size)."""
    rays = camera_rays(cameras.K.to(depth.dtype), *depth.shape[-2:])  # z = 1 per ray
    return points_to_world(rays * depth[:, 0, ..., None], cameras.cam_to_world.to(depth.dtype))


def warp_previous(prev: torch.Tensor, prev_depth: torch.Tensor, depth: torch.Tensor,
                  cameras: Cameras, prev_cameras: Cameras,
                  tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``prev`` (B, C, H', W'), seen by ``prev_cameras`` with depth ``prev_depth``
    (B, 1, H', W'), into the current view of ``cameras`` whose depth is ``depth`` (B, 1, H, W).

    Each current pixel with depth is unprojected, projected into the previous camera and ``prev``
    sampled there (bilinear). ``valid`` (B, 1, H, W) is 1 where the pixel has depth, lands inside
    the previous image in front of its camera, and the previous depth there (sampled bilinearly)
    agrees with the projected depth within ``tolerance`` (relative): otherwise the point was
    occluded, disoccluded or unseen before, or the sample straddles a silhouette.
    Returns ``(warped * valid, valid)``.
    """
    _, _, hp, wp = prev.shape
    pix, z = prev_cameras.to(depth.device, depth.dtype).project(unproject(depth, cameras),
                                                                min_depth=1e-8)
    pix, z = pix.permute(0, 3, 1, 2), z[:, None]
    grid = torch.stack([2 * pix[:, 0] / max(wp - 1, 1) - 1, 2 * pix[:, 1] / max(hp - 1, 1) - 1], -1)
    warped = F.grid_sample(prev, grid.to(prev.dtype), mode="bilinear", padding_mode="border",
                           align_corners=True)
    # Bilinear like the colour: a sample mixing across a depth edge (or with empty pixels) gives a
    # depth between the two and fails the test, so colours blended across silhouettes are dropped.
    seen = F.grid_sample(prev_depth, grid.to(prev_depth.dtype), mode="bilinear",
                         padding_mode="zeros", align_corners=True)
    inside = (pix[:, 0:1] >= 0) & (pix[:, 0:1] <= wp - 1) & (pix[:, 1:2] >= 0) & \
        (pix[:, 1:2] <= hp - 1)
    agree = (seen > 0) & ((seen - z).abs() <= tolerance * z)
    valid = ((depth > 0) & (z > 0) & inside & agree).to(prev.dtype)
    return warped * valid, valid


def warping_error(frame: torch.Tensor, warped_prev: torch.Tensor, valid: torch.Tensor) -> float:
    """Mean squared difference over valid pixels and channels between a frame and the previous
    frame warped into it (the video-consistency measure of Lai et al., ECCV 2018); 0 when no pixel
    is valid."""
    count = valid.sum() * frame.shape[1]
    if count == 0:
        return 0.0
    return float((((frame - warped_prev) ** 2) * valid).sum() / count)
