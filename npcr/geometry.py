"""Camera geometry shared by the demo scene and camera-path tools (OpenCV axes: x right, y down,
z forward; camera-to-world matrices)."""
from __future__ import annotations

import numpy as np


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Camera-to-world (4, 4) of a camera at ``eye`` looking at ``target``, image up along ``up``."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    norm = np.linalg.norm(x)
    if norm < 1e-9:
        raise ValueError("viewing direction is parallel to the up vector")
    x /= norm
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def pinhole(height: int, width: int, fov_x_deg: float) -> np.ndarray:
    """Intrinsics of a centred pinhole camera with horizontal field of view ``fov_x_deg``."""
    f = 0.5 * width / np.tan(np.radians(fov_x_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])


def pixel_rays(K: np.ndarray, c2w: np.ndarray, height: int, width: int,
               offsets: list[tuple[float, float]]) -> np.ndarray:
    """World rays (S, H, W, 6) = origin, direction, through pixel centres shifted by ``offsets``."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = []
    for du, dv in offsets:
        d = np.stack([(cols + du - K[0, 2]) / K[0, 0], (rows + dv - K[1, 2]) / K[1, 1],
                      np.ones_like(cols)], axis=-1)
        d = d @ c2w[:3, :3].T
        o = np.broadcast_to(c2w[:3, 3], d.shape)
        rays.append(np.concatenate([o, d], axis=-1))
    return np.stack(rays).astype(np.float32)
