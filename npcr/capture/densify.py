"""Dense points from posed photos: multi-view plane-sweep stereo in torch, a depth-consistency
check between views, and fusion into one coloured cloud.

Sparse structure from motion leaves ~10k points for 20-odd photos, far too few for point-based
rendering. For each photo (the *reference*) at reduced resolution, fronto-parallel planes at depths
spaced evenly in inverse depth over the range its sparse points span are swept through its nearest
other photos (the *sources*): each source is resampled onto every plane, and windowed zero-mean
normalised cross-correlation (ZNCC, insensitive to exposure) with the reference scores the plane.
The best two sources' mean score picks each pixel's depth (occlusion in the others is tolerated),
refined to sub-plane accuracy by a parabola; a best plane at either end of the range is no depth
(the surface lies beyond it, as the sky does). A pixel's depth is kept when enough other photos'
depth maps agree with it (reprojection within a pixel, depth within a fraction) and then becomes
a point with the photo's colour; points are merged on a voxel grid of about one pixel's footprint.

Where a surface's texture is too fine or too faint to match at that resolution (gravel, a lawn,
a plain wall), its broad shading often matches at a coarser one: the sweep is repeated at 1/2,
1/4 ... of the size, and each photo's pixels that no finer level gave a depth take the coarse
level's (interpolated to the full resolution where the coarse pixels around agree; depths
agree between photos within a tolerance that grows with the pixels' size), each still one point
with the photo's colour at full resolution.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import Cameras


@dataclass
class DensifyOptions:
    max_size: int = 320  # longest side of the photos the stereo works on
    max_depths: int = 160  # most planes swept per photo (as many as move a source pixel by ~1 px)
    num_sources: int = 4  # other photos each photo is matched against
    window: int = 7  # ZNCC window side (odd)
    min_score: float = 0.6  # least mean ZNCC of the best two sources
    min_texture: float = 0.01  # least standard deviation of grey (0-1) in the window
    min_consistent: int = 2  # other photos whose depth must agree
    depth_tolerance: float = 0.01  # relative depth agreement
    reprojection_px: float = 1.0  # reprojection agreement in pixels
    max_points: int = 1_000_000  # merge on a coarser voxel grid when more are fused
    coarse_levels: int = 2  # sweeps at 1/2, 1/4 ... of max_size for the pixels finer ones missed


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) uint8 -> (H, W) float in [0, 1]."""
    return (rgb.float() @ torch.tensor([0.299, 0.587, 0.114])) / 255.0


def _box(x: torch.Tensor, window: int) -> torch.Tensor:
    """Windowed mean of (N, H, W), edges averaging only the pixels inside."""
    return F.avg_pool2d(x[:, None], window, 1, window // 2, count_include_pad=False)[:, 0]


def _sample(image: torch.Tensor, uv: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``image`` (C, H, W) at pixel coordinates ``uv`` (N, h, w, 2) -> (N, C, h, w); outside is
    NaN."""
    h, w = image.shape[-2:]
    grid = torch.stack([uv[..., 0] / max(w - 1, 1) * 2 - 1, uv[..., 1] / max(h - 1, 1) * 2 - 1], -1)
    out = F.grid_sample(image[None].expand(len(uv), -1, -1, -1), grid, mode=mode,
                        padding_mode="zeros", align_corners=True)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= w - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= h - 1)
    return torch.where(inside[:, None], out, torch.full_like(out, math.nan))


def choose_sources(cam_to_world: np.ndarray, count: int) -> list[list[int]]:
    """For each camera, the ``count`` others nearest to it among those looking within 60 degrees of
    its direction (fewer when there are not enough)."""
    centres, forward = cam_to_world[:, :3, 3], cam_to_world[:, :3, 2]
    out = []
    for i in range(len(cam_to_world)):
        dist = np.linalg.norm(centres - centres[i], axis=1)
        ok = (forward @ forward[i] > 0.5) & (np.arange(len(centres)) != i) & (dist > 0)
        order = [int(j) for j in np.argsort(dist) if ok[j]]
        out.append(order[:count])
    return out


def plane_count(camera: Cameras, sources: list[Cameras], near: float, far: float,
                most: int) -> int:
    """Planes evenly spaced in inverse depth so that the next plane moves a pixel by about one
    pixel in the farthest source (focal length x baseline x inverse-depth step), 16 to ``most``."""
    centre = camera.cam_to_world[0, :3, 3]
    baseline = max((float(torch.linalg.norm(c.cam_to_world[0, :3, 3] - centre)) for c in sources),
                   default=0.0)
    count = math.ceil(float(camera.K[0, 0, 0]) * baseline * (1 / near - 1 / far)) + 1
    return int(min(max(count, 16), most))


def plane_sweep(ref: torch.Tensor, camera: Cameras, sources: list[tuple[torch.Tensor, Cameras]],
                near: float, far: float, opts: DensifyOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (H, W) and score (H, W) of the grey reference ``ref`` (H, W) seen by ``camera``
    from ``sources``, each (grey (h, w), its camera); depth 0 where no plane scores."""
    h, w = ref.shape
    num_depths = plane_count(camera, [c for _, c in sources], near, far, opts.max_depths)
    inv = torch.linspace(1 / near, 1 / far, num_depths, dtype=torch.float64)
    depths = 1 / inv
    rays = camera.rays()[0]
    centre = camera.cam_to_world[0, :3, 3]
    mu_r = _box(ref[None], opts.window)[0]
    var_r = (_box(ref[None] ** 2, opts.window)[0] - mu_r ** 2).clamp_min(0)
    scores = []
    for grey, source in sources:
        ncc = torch.empty(num_depths, h, w)
        for chunk in torch.split(torch.arange(num_depths), 16):
            points = centre + depths[chunk, None, None, None] * rays  # (d, H, W, 3)
            uv, z = source.project(points, min_depth=1e-9)
            s = _sample(grey[None], uv.float())[:, 0]  # (d, H, W)
            s = torch.where(z > 0, s, torch.full_like(s, math.nan))
            bad = torch.isnan(s)
            s = torch.nan_to_num(s)
            mu_s = _box(s, opts.window)
            var_s = (_box(s * s, opts.window) - mu_s ** 2).clamp_min(0)
            cov = _box(s * ref, opts.window) - mu_s * mu_r
            value = cov / torch.sqrt(var_s * var_r + 1e-8)
            ncc[chunk] = torch.where(_box(bad.float(), opts.window) > 0, -1.0, value)
        scores.append(ncc)
    stack = torch.stack(scores)  # (S, D, H, W)
    best = stack.topk(min(2, len(sources)), dim=0).values.mean(0)  # (D, H, W)
    score, idx = best.max(0)
    # sub-plane refinement: the parabola through the best plane and its neighbours
    lo, hi = (idx - 1).clamp_min(0), (idx + 1).clamp_max(num_depths - 1)
    s0, s1, s2 = best.gather(0, lo[None])[0], score, best.gather(0, hi[None])[0]
    denom = s0 - 2 * s1 + s2
    shift = torch.where((denom < -1e-6) & (lo < idx) & (hi > idx), 0.5 * (s0 - s2) / denom,
                        torch.zeros_like(denom)).clamp(-0.5, 0.5)
    step = (inv[-1] - inv[0]) / max(num_depths - 1, 1)
    depth = 1 / (inv[idx] + shift.double() * step)
    inside = (idx > 0) & (idx < num_depths - 1)  # at an end of the range the surface lies past it
    keep = (score >= opts.min_score) & (var_r.sqrt() >= opts.min_texture) & inside
    return torch.where(keep, depth, torch.zeros_like(depth)).float(), score


def consistent_views(i: int, depths: list[torch.Tensor], cameras: Cameras, others: list[int],
                     opts: DensifyOptions) -> torch.Tensor:
    """(H, W) count of the ``others`` whose depth maps agree with camera ``i``'s (``cameras``
    at the depth maps' size)."""
    d = depths[i].double()
    h, w = d.shape
    rays = cameras[i].rays()[0]
    points = cameras.cam_to_world[i, :3, 3] + d[..., None] * rays
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                          indexing="ij")
    count = torch.zeros(h, w, dtype=torch.int64)
    for j in others:
        uv, _ = cameras[j].project(points, min_depth=1e-9)
        dj = _sample(depths[j][None], uv[None].float(), mode="nearest")[0, 0].double()
        ok = torch.nan_to_num(dj) > 0
        rays_j = cameras[j].rays()[0]
        # back from camera j at its depth: the ray through the sampled pixel (rounded as sampled)
        ui = uv[..., 0].round().clamp(0, depths[j].shape[1] - 1).long()
        vi = uv[..., 1].round().clamp(0, depths[j].shape[0] - 1).long()
        back = cameras.cam_to_world[j, :3, 3] + torch.nan_to_num(dj)[..., None] * rays_j[vi, ui]
        uv_back, z_back = cameras[i].project(back, min_depth=1e-9)
        err = torch.hypot(uv_back[..., 0] - u, uv_back[..., 1] - v)
        agree = ok & (d > 0) & (err <= opts.reprojection_px + 0.71) & \
            ((z_back - d).abs() <= opts.depth_tolerance * d)
        count += agree.long()
    return count


def merge_on_voxels(xyz: np.ndarray, colors: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """One point per occupied voxel: the mean position and colour of the points in it."""
    keys = np.floor(xyz / voxel).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    out_xyz = np.stack([np.bincount(inverse, xyz[:, k]) for k in range(3)], 1) / counts[:, None]
    out_col = np.stack([np.bincount(inverse, colors[:, k]) for k in range(3)], 1) / counts[:, None]
    return out_xyz.astype(np.float32), out_col.astype(np.float32)


@dataclass
class Level:
    """The photos at one stereo resolution: grey images, valid masks and cameras (float64)."""

    greys: list[torch.Tensor]
    masks: list[np.ndarray]
    cameras: Cameras

    @property
    def hw(self) -> tuple[int, int]:
        return self.cameras.size


def make_level(images: list[np.ndarray], valid: list[np.ndarray | None], cameras: Cameras,
               longest: int) -> tuple[Level, list[np.ndarray]]:
    """``images`` of ``cameras`` scaled to ``longest`` px (never enlarged) as a Level, and their
    RGB at that size."""
    h0, w0 = images[0].shape[:2]
    scale = min(1.0, longest / max(h0, w0))
    hw = (max(1, round(h0 * scale)), max(1, round(w0 * scale)))
    small = [cv2.resize(im, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for im in images]
    masks = [np.ones(hw, bool) if m is None else
             cv2.resize(m.astype(np.uint8), (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST) > 0
             for m in valid]
    return Level([_grey(torch.from_numpy(im)) for im in small], masks,
                 cameras.resized(*hw).to(dtype=torch.float64)), small


def consistent_depths(level: Level, ranges: np.ndarray,
                      sources: list[list[int]], opts: DensifyOptions,
                      progress: Callable[[str], None], name: str) -> list[torch.Tensor]:
    """Each photo's depth map at ``level`` (0 where none) kept where enough others agree."""
    fallback = (np.nanmin(ranges[:, 0]), np.nanmax(ranges[:, 1]))
    depths = []
    for i in range(len(level.greys)):
        near, far = ranges[i] if np.isfinite(ranges[i]).all() else fallback
        srcs = [(level.greys[j], level.cameras[j]) for j in sources[i]]
        if not srcs:
            depths.append(torch.zeros(level.hw))
            continue
        depth, _ = plane_sweep(level.greys[i], level.cameras[i], srcs, float(near), float(far),
                               opts)
        depths.append(torch.where(torch.from_numpy(level.masks[i]), depth, torch.zeros_like(depth)))
        progress(f"stereo {name} {i + 1}/{len(level.greys)}: {int((depth > 0).sum())} of "
                 f"{level.hw[0] * level.hw[1]} pixels scored")
    kept = []
    for i in range(len(depths)):
        agree = consistent_views(i, depths, level.cameras, sources[i], opts)
        keep = (agree >= min(opts.min_consistent, len(sources[i]))) & (depths[i] > 0)
        kept.append(torch.where(keep, depths[i], torch.zeros_like(depths[i])))
    return kept


def upsample_depth(depth: torch.Tensor, hw: tuple[int, int], spread: float = 0.05) -> torch.Tensor:
    """A coarse depth map (0: none) at the finer size ``hw``: inverse depth interpolated
    bilinearly between the four coarse pixel centres around each fine one, where all four have a
    depth and none is more than ``spread`` from the others (one surface); 0 elsewhere."""
    hc, wc = depth.shape

    def corners(fine: int, coarse: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = ((torch.arange(fine, dtype=torch.float64) + 0.5) * coarse / fine - 0.5).clamp(0, coarse - 1)
        lo = x.floor().long()
        return lo, (lo + 1).clamp_max(coarse - 1), x - lo

    y0, y1, fy = corners(hw[0], hc)
    x0, x1, fx = corners(hw[1], wc)
    inv = torch.where(depth > 0, 1 / depth.double().clamp_min(1e-12), torch.zeros_like(depth.double()))
    quad = torch.stack([inv[y0][:, x0], inv[y0][:, x1], inv[y1][:, x0], inv[y1][:, x1]])
    fy, fx = fy[:, None], fx[None]
    weights = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
    lo, hi = quad.min(0).values, quad.max(0).values
    ok = (lo > 0) & (hi <= lo * (1 + spread))
    value = (quad * weights).sum(0)
    return torch.where(ok, 1 / value.clamp_min(1e-12), torch.zeros_like(value)).float()


def fill_from_coarse(depth: torch.Tensor, coarse: torch.Tensor, mask: torch.Tensor,
                     level: int) -> tuple[torch.Tensor, int]:
    """``depth`` (H, W; 0: none) with the depth of ``coarse`` (a map 2^``level`` times smaller)
    where it has none and no pixel within a coarse pixel's reach has one, inside ``mask``; and
    the count of pixels filled. A coarse depth is too rough to stand between fine ones on a
    surface they cover, and it blurs across that surface's edges."""
    reach = 2 ** (level + 1) + 1  # a coarse pixel and its neighbours, in fine pixels
    near_fine = F.max_pool2d((depth > 0).float()[None, None], reach, 1, reach // 2)[0, 0] > 0
    up = upsample_depth(coarse, tuple(depth.shape))
    fill = ~near_fine & mask & (up > 0)
    return torch.where(fill, up, depth), int(fill.sum())


def densify(images: list[np.ndarray], valid: list[np.ndarray | None], K: np.ndarray,
            cam_to_world: np.ndarray, sparse: np.ndarray, opts: DensifyOptions,
            progress: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray, dict]:
    """Dense coloured points (N, 3), (N, 3) in [0, 1] from pinhole photos ``images`` ((H, W, 3)
    uint8, one size), their ``valid`` masks (None: all valid), K (M, 3, 3) in npcr's convention,
    camera-to-world (M, 4, 4) and the ``sparse`` points (depth ranges); and counts and seconds."""
    cameras = Cameras(np.asarray(K, dtype=np.float64), np.asarray(cam_to_world, dtype=np.float64),
                      *images[0].shape[:2])
    fine, small = make_level(images, valid, cameras, opts.max_size)
    # the sweep's range: the sparse points inside each photo, 1st-99th percentile, widened 20%
    ranges = fine.cameras.depth_ranges(sparse, (1, 99), (1 / 1.2, 1.2), min_points=10)
    if np.isnan(ranges).all():
        raise ValueError("no camera sees 10 or more sparse points: no depth range to search")
    sources = choose_sources(cam_to_world, opts.num_sources)
    clock = time.perf_counter()
    depths = consistent_depths(fine, ranges, sources, opts, progress, f"{fine.hw[1]}x{fine.hw[0]}")
    from_level = [int(sum(int((d > 0).sum()) for d in depths))]
    for level in range(1, opts.coarse_levels + 1):
        coarse, _ = make_level(images, valid, cameras, max(8, opts.max_size >> level))
        # depths agree as far as a pixel's size allows: relative tolerance x 2 per level
        level_opts = replace(opts, depth_tolerance=opts.depth_tolerance * 2 ** level)
        found = consistent_depths(coarse, ranges, sources, level_opts, progress,
                                  f"{coarse.hw[1]}x{coarse.hw[0]}")
        added = 0
        for i, d in enumerate(found):
            depths[i], count = fill_from_coarse(depths[i], d, torch.from_numpy(fine.masks[i]),
                                                level)
            added += count
        from_level.append(added)
    stereo_s = time.perf_counter() - clock
    xyz, colors = [], []
    for i, d in enumerate(depths):
        keep = d > 0
        rays = fine.cameras[i].rays()[0][keep]
        xyz.append((fine.cameras.cam_to_world[i, :3, 3] + d[keep].double()[:, None] * rays).numpy())
        colors.append(small[i][keep.numpy()] / 255.0)
    xyz, colors = np.concatenate(xyz), np.concatenate(colors)
    if len(xyz) == 0:
        raise ValueError("no depth agreed between photos: the poses or the photos do not match")
    footprint = float(np.median(np.concatenate([d[d > 0].numpy() for d in depths]))) / \
        float(fine.cameras.K[:, 0, 0].mean())
    voxel = footprint
    merged = merge_on_voxels(xyz, colors, voxel)
    while len(merged[0]) > opts.max_points:
        voxel *= 1.25
        merged = merge_on_voxels(xyz, colors, voxel)
    stats = {"stereo_size": f"{fine.hw[1]}x{fine.hw[0]}", "fused": len(xyz),
             "fused_by_level": from_level, "points": len(merged[0]), "voxel": voxel,
             "stereo_seconds": stereo_s, "fusion_seconds": time.perf_counter() - clock - stereo_s}
    return merged[0], merged[1], stats
