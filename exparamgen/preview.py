"""A picture of a camera path around its point cloud, to check a path before rendering it."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from npcr.fileio import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_path_preview(path: str | Path, poses: np.ndarray, points: np.ndarray | None = None,
                      arrows: int = 24, max_points: int = 5000) -> None:
    """Write a PNG with three views (3D, top, side) of the camera centres, their viewing
    directions (every few cameras; the first in red) and a subsample of ``points``."""
    centres, forward = poses[:, :3, 3], poses[:, :3, 2]
    spread = [centres]
    if points is not None and len(points):
        pick = np.random.default_rng(0).choice(len(points), min(len(points), max_points),
                                               replace=False)
        points = points[pick]
        spread.append(points)
    allxyz = np.concatenate(spread)
    scale = 0.15 * np.ptp(allxyz, axis=0).max()
    step = max(1, len(poses) // arrows)
    fig = plt.figure(figsize=(12, 4))
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    panels = [(fig.add_subplot(1, 3, 2), (0, 1), "top (x, y)"),
              (fig.add_subplot(1, 3, 3), (0, 2), "side (x, z)")]
    if points is not None:
        ax3.scatter(*points.T, s=0.5, c="0.6")
    ax3.plot(*centres.T, c="tab:blue")
    ax3.quiver(*centres[::step].T, *(scale * forward[::step]).T, color="tab:orange")
    ax3.scatter(*centres[0], c="red", s=30)
    ax3.set_title(f"{len(poses)} cameras")
    for ax, (i, j), title in panels:
        if points is not None:
            ax.scatter(points[:, i], points[:, j], s=0.5, c="0.6")
        ax.plot(centres[:, i], centres[:, j], c="tab:blue")
        ax.quiver(centres[::step, i], centres[::step, j], forward[::step, i], forward[::step, j],
                  color="tab:orange", angles="xy")
        ax.scatter(centres[0, i], centres[0, j], c="red", s=30, zorder=3)
        ax.set_aspect("equal")
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
