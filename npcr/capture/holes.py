"""Points for the holes a cloud leaves inside the training photos.

Stereo finds no depth where a surface shows no texture, such as the dark inside of a cavity, so a
cloud made from photos has holes there, and a renderer shows through them whatever lies behind in
other views (sky, a bright background). For each training photo at reduced resolution
``hole_points`` finds the pixels no point lands on (a z-buffer of the cloud, closed over small
gaps) that form a region enclosed by covered pixels: regions that reach the photo's border, its
pixels without a source, or its matte's outside are background, not holes. Each hole pixel takes
the depth of the farthest covered pixel around it, a little behind it, and becomes a point with the
photo's colour there; the points of all photos are merged on a voxel grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np
import torch

import pcpr_ext

from ..geometry import Cameras
from .densify import merge_on_voxels


@dataclass
class HoleOptions:
    max_size: int = 320  # longest side of the photos looked at
    close: int = 5  # gaps between projected points up to about this many pixels count as covered
    stride: int = 2  # one point per stride x stride hole pixels
    behind: float = 1.05  # hole depth = this x the farthest covered depth around the hole


def zbuffer(points: torch.Tensor, camera: Cameras) -> np.ndarray:
    """(H, W) depth of the nearest of ``points`` (N, 3) float32 at each pixel of one ``camera``,
    0 where none (the projector, one pixel per point, no depth range)."""
    camera = camera.to()
    depth, _ = pcpr_ext.project(points, camera.K, camera.cam_to_world, *camera.size, near=1e-6,
                                far=1e30)
    return depth[0, 0].numpy().astype(np.float64)


def covered_pixels(points: torch.Tensor, camera: Cameras,
                   close: int = HoleOptions.close) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (H, W) bool of one ``camera`` that ``points`` cover, gaps between projected
    points up to about ``close`` pixels closed, and the z-buffer (``zbuffer``)."""
    depth = zbuffer(points, camera)
    covered = cv2.morphologyEx((depth > 0).astype(np.uint8), cv2.MORPH_CLOSE,
                               np.ones((close, close), np.uint8)) > 0
    return covered, depth


def enclosed(uncovered: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """The ``uncovered`` pixels whose 4-connected region (with ``outside`` pixels joined in) touches
    neither the border nor an ``outside`` pixel."""
    _, labels = cv2.connectedComponents((uncovered | outside).astype(np.uint8), connectivity=4)
    open_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1],
                                            labels[outside]]))
    return uncovered & ~np.isin(labels, open_labels)


def farthest_around(depth: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``depth`` with each ``holes`` pixel given the largest depth that reaches it by growing the
    known depths one pixel at a time through the hole (the farthest part of the hole's rim nearest
    to it); a hole whose rim has no depth (covered only by the closing of gaps) stays 0. Growing
    through such gap pixels as well is not done: depths then travel along the gaps of sparse
    regions (far trees) into the holes and push most hole points far back."""
    filled = np.where(holes, 0.0, depth).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(sum(depth.shape)):
        missing = holes & (filled == 0)
        if not missing.any():
            break
        filled = np.where(missing, cv2.dilate(filled, kernel), filled)
    return filled


def hole_points(photos: Iterable[tuple[np.ndarray, np.ndarray | None]], K: np.ndarray,
                cam_to_world: np.ndarray, points: np.ndarray,
                opts: HoleOptions = HoleOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) and colours (N, 3) in [0, 1] for the holes ``points`` (P, 3) leave in
    ``photos``: each RGB (H, W, 3) uint8 with a mask (H, W) of the pixels that are scene (photo
    pixels with a source and inside the matte; None: all), seen by pinhole cameras ``K`` (M, 3, 3)
    and ``cam_to_world`` (M, 4, 4)."""
    cloud = torch.as_tensor(points, dtype=torch.float32)
    out_xyz, out_rgb, footprints = [], [], []
    for (rgb, mask), Ki, c2w in zip(photos, K, cam_to_world):
        h0, w0 = rgb.shape[:2]
        scale = min(1.0, opts.max_size / max(h0, w0))
        hw = (max(1, round(h0 * scale)), max(1, round(w0 * scale)))
        camera = Cameras(np.asarray(Ki, dtype=np.float64)[None],
                         np.asarray(c2w, dtype=np.float64)[None], h0, w0).resized(*hw)
        small = cv2.resize(rgb, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        inside = np.ones(hw, bool) if mask is None else \
            cv2.resize(mask.astype(np.uint8), (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST) > 0
        covered, depth = covered_pixels(cloud, camera, opts.close)
        holes = enclosed(~covered & inside, ~inside)
        filled = farthest_around(depth, holes)
        pick = np.zeros(hw, bool)
        pick[::opts.stride, ::opts.stride] = True
        pick &= holes & (filled > 0)
        if not pick.any():
            continue
        rays = camera.to(dtype=torch.float64).rays()[0].numpy()[pick]
        out_xyz.append(c2w[:3, 3] + rays * (opts.behind * filled[pick, None]))
        out_rgb.append(small[pick] / 255.0)
        footprints.append(opts.behind * np.median(filled[pick]) / camera.K[0, 0, 0])
    if not out_xyz:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    return merge_on_voxels(np.concatenate(out_xyz), np.concatenate(out_rgb),
                           opts.stride * float(np.median(footprints)))
