"""Point-cloud preprocessing with open3d: down-sampling, outlier removal, cropping to the cameras'
views, and normalising the scene to the unit sphere (cameras moved with it)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import NpcrError
from .scene import Scene


@dataclass
class PrepareOptions:
    voxel: float = 0.0  # voxel size for down-sampling; 0 keeps every point
    outlier_neighbors: int = 0  # statistical outlier removal over this many neighbours; 0 skips
    outlier_std: float = 2.0  # ... dropping points farther than this many standard deviations
    min_views: int = 0  # keep points inside the image of at least this many cameras; 0 skips
    normalize: bool = False  # move and scale the scene so the points fit the unit sphere


def points_in_views(scene: Scene, xyz: np.ndarray, frame: int) -> np.ndarray:
    """(N,) count of cameras whose image each point projects into (in front of the camera)."""
    cameras = scene.cameras(frame)
    h, w = cameras.size
    counts = np.zeros(len(xyz), dtype=np.int64)
    for i in range(len(cameras)):
        with np.errstate(divide="ignore", invalid="ignore"):
            uv, z = cameras[i].project(xyz)
        u, v = uv[:, 0], uv[:, 1]
        counts += (z > 0) & (u > -0.5) & (u < w - 0.5) & (v > -0.5) & (v < h - 0.5)
    return counts


def clean_points(xyz: np.ndarray, colors: np.ndarray | None, opts: PrepareOptions):
    """Voxel down-sampling and statistical outlier removal (each only when asked)."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
    if colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(colors.astype(np.float64))
    if opts.voxel > 0:
        pcd = pcd.voxel_down_sample(opts.voxel)
    if opts.outlier_neighbors > 0:
        pcd, _ = pcd.remove_statistical_outlier(opts.outlier_neighbors, opts.outlier_std)
    out_colors = np.asarray(pcd.colors, dtype=np.float32) if pcd.has_colors() else None
    return np.asarray(pcd.points, dtype=np.float32), out_colors


def normalization(xyz: np.ndarray) -> np.ndarray:
    """4x4 similarity taking the points' bounding-box centre to 0 and their farthest point to r=1."""
    centre = (xyz.min(0) + xyz.max(0)) / 2.0
    scale = 1.0 / max(float(np.linalg.norm(xyz - centre, axis=1).max()), 1e-12)
    T = np.eye(4)
    T[:3, :3] *= scale
    T[:3, 3] = -scale * centre
    return T


def prepare_scene(scene: Scene, opts: PrepareOptions) -> tuple[Scene, np.ndarray, dict]:
    """A scene with processed clouds (every frame: crop to views, down-sample, remove outliers), the
    normalising transform applied to cameras and points (identity without ``normalize``), and the
    point counts after each step."""
    arrays, report = {}, {}
    for frame in scene.frames:
        xyz, colors = scene.points(frame)
        counts = {"input": len(xyz)}
        if opts.min_views > 0:  # first, so far-away junk does not skew the outlier statistics
            keep = points_in_views(scene, xyz, frame) >= opts.min_views
            xyz, colors = xyz[keep], (colors[keep] if colors is not None else None)
            counts["in_views"] = len(xyz)
        xyz, colors = clean_points(xyz, colors, opts)
        counts["cleaned"] = len(xyz)
        if not len(xyz):
            steps = ", ".join(f"{k} {v}" for k, v in counts.items())
            raise NpcrError(f"{scene.source}: frame {frame} has no points left ({steps}); loosen "
                            f"the cleaning options")
        arrays[frame] = (xyz, colors)
        report[frame] = counts
    T = normalization(arrays[scene.frames[0]][0]) if opts.normalize else np.eye(4)
    scale = T[0, 0]
    c2w = scene.cam_to_world.copy()
    c2w[:, :3, 3] = c2w[:, :3, 3] @ T[:3, :3].T + T[:3, 3]  # rotations unchanged
    arrays = {f: ((xyz.astype(np.float64) * scale + T[:3, 3]).astype(np.float32), col)
              for f, (xyz, col) in arrays.items()}
    return dataclasses.replace(scene, cam_to_world=c2w, point_files={}, point_arrays=arrays), T, \
        report
