"""COLMAP sparse models (text or binary) through pycolmap.

Accepted camera models: PINHOLE and SIMPLE_PINHOLE, and the radial/OpenCV models when their distortion
is zero (undistorted). COLMAP puts pixel centres at half-integers; npcr at integers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .scene import Scene

UNDISTORTED_MODELS = {"SIMPLE_PINHOLE", "PINHOLE"}
DISTORTION_MODELS = {"SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV"}
MODEL_FILES = ("cameras.bin", "cameras.txt")


def find_model_dir(root: Path) -> Path | None:
    """The folder holding cameras.{bin,txt}: root, root/sparse/0 or root/sparse."""
    for cand in (root, root / "sparse" / "0", root / "sparse"):
        if any((cand / name).is_file() for name in MODEL_FILES):
            return cand
    return None


def read_colmap(root: str | Path, images_dir: str | Path | None = None) -> Scene:
    """Read a COLMAP model under ``root``; images from ``images_dir`` (default ``root/images``)."""
    import pycolmap

    root = Path(root)
    model = find_model_dir(root)
    if model is None:
        raise DataFormatError(root, "no COLMAP model (cameras.bin or cameras.txt) in it, "
                              "sparse/0 or sparse")
    try:
        rec = pycolmap.Reconstruction(str(model))
    except Exception as exc:  # pycolmap raises its own error types for malformed files
        raise DataFormatError(model, f"COLMAP model does not parse: {exc}") from None
    images_dir = Path(images_dir) if images_dir else root / "images"
    c2w, Ks, images = [], [], {}
    for _, img in sorted(rec.images.items(), key=lambda kv: kv[1].name):
        if not img.has_pose:
            continue
        cam = rec.cameras[img.camera_id]
        name = cam.model_name
        distortion = [cam.params[i] for i in cam.extra_params_idxs()]
        if name not in UNDISTORTED_MODELS and not (name in DISTORTION_MODELS
                                                   and not any(distortion)):
            raise DataFormatError(model, f"camera {img.camera_id} ({name}) is distorted; run "
                                  "COLMAP's image_undistorter first and read its output")
        K = np.array(cam.calibration_matrix(), dtype=np.float64)
        K[0, 2] -= 0.5
        K[1, 2] -= 0.5
        world_to_cam = np.eye(4)
        world_to_cam[:3] = img.cam_from_world().matrix()
        c2w.append(np.linalg.inv(world_to_cam))
        Ks.append(K)
        images[0, len(c2w) - 1] = images_dir / img.name
    if not c2w:
        raise DataFormatError(model, "no registered images")
    if rec.num_points3D() == 0:
        raise DataFormatError(model, "no 3D points")
    pts = sorted(rec.points3D.items())
    xyz = np.array([p.xyz for _, p in pts], dtype=np.float32)
    colors = np.array([p.color for _, p in pts], dtype=np.float32) / 255.0
    scene = Scene(root, np.stack(c2w), np.stack(Ks), [0], images,
                  point_arrays={0: (xyz, colors)})
    scene.check_files()
    return scene
