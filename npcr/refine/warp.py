"""Reprojection of an earlier frame into the current view with the current view's depth.

Cameras follow the projection contract (pcpr_ext/PROJECTION.md): OpenCV axes, camera-to-world
matrices, pixel centres at integer coordinates, depth = camera z, 0 where nothing was rendered.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def unproject(depth: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
    """World points (B, 3, H, W) of every pixel of ``depth`` (B, 1, H, W) seen by cameras ``K``
    (B, 3, 3), ``cam_to_world`` (B, 4, 4): ``X = R d K^-1 (col, row, 1) + t``."""
    b, _, h, w = depth.shape
    rows, cols = torch.meshgrid(torch.arange(h, device=depth.device, dtype=depth.dtype),
                                torch.arange(w, device=depth.device, dtype=depth.dtype),
                                indexing="ij")
    pix = torch.stack([cols, rows, torch.ones_like(cols)]).reshape(1, 3, -1)
    rays = torch.linalg.solve(K.to(depth.dtype), pix.expand(b, 3, -1))  # z = 1 per ray
    cam = rays * depth.reshape(b, 1, -1)
    world = cam_to_world[:, :3, :3].to(depth.dtype) @ cam + cam_to_world[:, :3, 3:].to(depth.dtype)
    return world.reshape(b, 3, h, w)


def project(world: torch.Tensor, K: torch.Tensor,
            cam_to_world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (B, 2, H, W) as (col, row) and depth (B, 1, H, W) of world points
    (B, 3, H, W) in cameras ``K``, ``cam_to_world``."""
    b, _, h, w = world.shape
    R, t = cam_to_world[:, :3, :3].to(world.dtype), cam_to_world[:, :3, 3:].to(world.dtype)
    cam = R.transpose(1, 2) @ (world.reshape(b, 3, -1) - t)
    z = cam[:, 2:3]
    pix = (K.to(world.dtype) @ cam)[:, :2] / z.clamp_min(1e-8)
    return pix.reshape(b, 2, h, w), z.reshape(b, 1, h, w)


def warp_previous(prev: torch.Tensor, prev_depth: torch.Tensor, depth: torch.Tensor,
                  K: torch.Tensor, cam_to_world: torch.Tensor, prev_K: torch.Tensor,
                  prev_cam_to_world: torch.Tensor,
                  tolerance: float = 0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``prev`` (B, C, H', W'), seen by the previous camera with depth ``prev_depth``
    (B, 1, H', W'), into the current view whose depth is ``depth`` (B, 1, H, W).

    Each current pixel with depth is unprojected, projected into the previous camera and ``prev``
    sampled there (bilinear). ``valid`` (B, 1, H, W) is 1 where the pixel has depth, lands inside
    the previous image in front of its camera, and the previous depth there (sampled bilinearly)
    agrees with the projected depth within ``tolerance`` (relative): otherwise the point was
    occluded, disoccluded or unseen before, or the sample straddles a silhouette.
    Returns ``(warped * valid, valid)``.
    """
    _, _, hp, wp = prev.shape
    pix, z = project(unproject(depth, K, cam_to_world), prev_K, prev_cam_to_world)
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
