"""Dataset inspection: a summary, overlays of projected points on the photos, a top-down plot.

What a user checks before training: do cameras and points line up?
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import pcpr_ext

from ..fileio import atomic_path, write_image
from ..geometry import depth_ranges
from .scene import Scene


@dataclass
class CameraReport:
    camera: int
    near: float  # depth range of the points in front of the camera (0.5th..99.5th percentile)
    far: float
    visible: int  # points that land in the image
    in_matte: float  # share of the pixels they hit that the alpha matte covers (alpha > 0)


def depth_range(scene: Scene, xyz: np.ndarray) -> np.ndarray:
    """(M, 2) near/far per camera from the depths of the points in front of it: the 0.5th and
    99.5th percentiles, 10% margin (``geometry.depth_ranges``; MODEL.NEAR/FAR 0 take these)."""
    return depth_ranges(xyz, scene.K, scene.cam_to_world)


def inspect_scene(scene: Scene, frame: int, out: Path | None = None,
                  max_overlays: int = 8) -> tuple[list[CameraReport], dict]:
    """Per-camera reports and a summary; with ``out``, overlays and ``top_down.png`` written there."""
    xyz, _ = scene.points(frame)
    ranges = depth_range(scene, xyz)
    points = torch.from_numpy(xyz)
    reports = []
    for cam in range(scene.num_cameras):
        rgb, alpha, _ = scene.read(frame, cam)
        if cam == 0:
            image_size = [rgb.shape[1], rgb.shape[0]]
        near, far = ranges[cam]
        hit = np.zeros(rgb.shape[:2], dtype=bool)
        visible = 0
        if np.isfinite(near):  # some points lie in front of the camera
            _, index = pcpr_ext.project(
                points, torch.as_tensor(scene.K[cam:cam + 1], dtype=torch.float32),
                torch.as_tensor(scene.cam_to_world[cam:cam + 1], dtype=torch.float32),
                rgb.shape[0], rgb.shape[1], near=max(near, 1e-6), far=far)
            hit = index[0, 0].numpy() >= 0
            visible = int(np.unique(index[0, 0].numpy()[hit]).size)
        in_matte = float((alpha[hit] > 0).mean()) if hit.any() else 0.0
        reports.append(CameraReport(cam, float(near), float(far), visible, in_matte))
        if out is not None and cam < max_overlays:
            overlay = rgb.copy()
            overlay[hit] = (0.35 * overlay[hit] + 0.65 * np.array([255, 40, 40])).astype(np.uint8)
            write_image(out / f"overlay_{cam:04d}.png", np.concatenate([rgb, overlay], axis=1))
    summary = {"cameras": scene.num_cameras, "frames": scene.frames, "image_size": image_size,
               "points": int(xyz.shape[0]), "bbox_min": xyz.min(0).tolist(),
               "bbox_max": xyz.max(0).tolist()}
    if out is not None:
        top_down_plot(scene, xyz, out / "top_down.png")
    return reports, summary


def top_down_plot(scene: Scene, xyz: np.ndarray, path: Path) -> None:
    """Points and cameras seen from above (along the cameras' mean up direction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    up = -scene.cam_to_world[:, :3, 1].mean(0)
    up = up / np.linalg.norm(up) if np.linalg.norm(up) > 1e-6 else np.array([0, 0, 1.0])
    a = np.cross(up, [1.0, 0, 0] if abs(up[0]) < 0.9 else [0, 1.0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    sub = xyz[np.random.default_rng(0).choice(len(xyz), min(len(xyz), 20000), replace=False)]
    centres = scene.cam_to_world[:, :3, 3]
    looks = scene.cam_to_world[:, :3, 2]
    span = np.ptp(np.concatenate([sub, centres]) @ np.stack([a, b], 1), axis=0).max()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(sub @ a, sub @ b, s=0.5, c="0.5", label=f"points ({len(xyz)})")
    ax.quiver(centres @ a, centres @ b, looks @ a, looks @ b, color="r", angles="xy",
              scale_units="xy", scale=1 / (0.08 * span), width=0.004)
    ax.scatter(centres @ a, centres @ b, s=12, c="r", label=f"cameras ({len(centres)})")
    for i in range(len(centres)):
        ax.annotate(str(i), (centres[i] @ a, centres[i] @ b), fontsize=6)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("top-down view (along the cameras' mean up axis)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
