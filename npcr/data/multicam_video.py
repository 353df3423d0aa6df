"""Multi-camera video captures (the layout of multi-view human datasets):

    intrinsic/NNNN.txt        3x3 K of camera NNNN
    pose/NNNN.txt             camera-to-world of camera NNNN, 4x4 or 3x4, OpenCV axes
    rgb/<frame>/NNNN.png      image of camera NNNN at frame <frame> (.jpg also read)
    mask/<frame>/NNNN.png     optional alpha matte
    pointcloud/<frame>.ply    the frame's point cloud (.ply, .pcd, .xyz, .txt ... )
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .textfiles import check_rotation, nonblank_lines, parse_numbers
from .scene import Scene

POINT_EXTENSIONS = (".ply", ".pcd", ".xyz", ".xyzrgb", ".pts", ".obj", ".txt")


def read_matrix(path: Path, shapes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """A whitespace matrix file of one of ``shapes``; errors name the file and line."""
    lines = nonblank_lines(path)
    rows = [parse_numbers(path, ln, text, tuple(s[1] for s in shapes)) for ln, text in lines]
    for shape in shapes:
        if len(rows) == shape[0] and all(len(r) == shape[1] for r in rows):
            return np.array(rows)
    want = " or ".join(f"{r}x{c}" for r, c in shapes)
    raise DataFormatError(path, f"expected a {want} matrix, found {len(rows)} rows")


def _numbered(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    found = {}
    if folder.is_dir():
        for p in folder.iterdir():
            if re.fullmatch(r"\d+", p.stem) and p.suffix.lower() in suffixes:
                found[int(p.stem)] = p
    return found


def read_video_capture(root: str | Path) -> Scene:
    """Read a multi-camera capture; every frame has every camera and its own point cloud."""
    root = Path(root)
    poses = _numbered(root / "pose", (".txt",))
    intrinsics = _numbered(root / "intrinsic", (".txt",))
    if not poses:
        raise DataFormatError(root / "pose", "no camera poses pose/NNNN.txt")
    if sorted(poses) != list(range(len(poses))) or sorted(intrinsics) != sorted(poses):
        raise DataFormatError(root, f"cameras must be numbered 0..M-1 in both pose/ and intrinsic/; "
                              f"found poses {sorted(poses)}, intrinsics {sorted(intrinsics)}")
    c2w, Ks = [], []
    for cam in range(len(poses)):
        pose = read_matrix(poses[cam], ((4, 4), (3, 4)))
        m = np.eye(4)
        m[:3] = pose[:3]
        check_rotation(poses[cam], 1, m[:3, :3])
        c2w.append(m)
        Ks.append(read_matrix(intrinsics[cam], ((3, 3),)))
    frames = sorted(int(p.name) for p in (root / "rgb").iterdir() if p.name.isdigit()) \
        if (root / "rgb").is_dir() else []
    if not frames:
        raise DataFormatError(root / "rgb", "no frame folders rgb/<frame>/")
    images, alphas, clouds = {}, {}, _numbered(root / "pointcloud", POINT_EXTENSIONS)
    for frame in frames:
        shots = _numbered(root / "rgb" / str(frame), (".png", ".jpg", ".jpeg"))
        masks = _numbered(root / "mask" / str(frame), (".png", ".jpg", ".jpeg"))
        for cam in range(len(poses)):
            if cam not in shots:
                raise DataFormatError(root / "rgb" / str(frame) / f"{cam:04d}.png", "image missing")
            images[frame, cam] = shots[cam]
            if cam in masks:
                alphas[frame, cam] = masks[cam]
        if frame not in clouds:
            raise DataFormatError(root / "pointcloud" / f"{frame}.ply", "point cloud missing")
    return Scene(root, np.stack(c2w), np.stack(Ks), frames, images, alphas,
                 {f: clouds[f] for f in frames})
