"""Surround camera paths: cameras on the circle through a start camera around an up axis."""
from __future__ import annotations

import numpy as np

from npcr.geometry import look_at

MAX_ELEVATION_DEG = 89.0


def surround_path(start_cam_to_world: np.ndarray, centre: np.ndarray, up: np.ndarray, frames: int,
                  elevation_deg: float = 0.0) -> np.ndarray:
    """``frames`` camera-to-world matrices (frames, 4, 4) circling ``centre`` about axis ``up``.

    Frame 0 sits at the start camera's centre; frame k is turned by 360 k / frames degrees. With
    ``elevation_deg`` the elevation above the start one swings by ±elevation_deg (one sine period).
    Every camera looks at ``centre`` with its image up along ``up``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    centre = np.asarray(centre, dtype=np.float64)
    offset = np.asarray(start_cam_to_world, dtype=np.float64)[:3, 3] - centre
    distance = np.linalg.norm(offset)
    height = offset @ up
    radial = offset - height * up
    if np.linalg.norm(radial) < 1e-9 * max(distance, 1.0):
        raise ValueError("the start camera lies on the up axis through the centre; no circle exists")
    e1 = radial / np.linalg.norm(radial)
    e2 = np.cross(up, e1)
    base_elev = np.arcsin(np.clip(height / distance, -1, 1))
    poses = []
    for k in range(frames):
        phase = 2 * np.pi * k / frames
        elev = base_elev + np.radians(elevation_deg) * np.sin(phase)
        elev = np.clip(elev, -np.radians(MAX_ELEVATION_DEG), np.radians(MAX_ELEVATION_DEG))
        direction = np.cos(phase) * e1 + np.sin(phase) * e2
        eye = centre + distance * (np.cos(elev) * direction + np.sin(elev) * up)
        poses.append(look_at(eye, centre, up))
    return np.stack(poses)
