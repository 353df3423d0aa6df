"""COLMAP sparse models (text or binary) through pycolmap.

Camera models: SIMPLE_PINHOLE and PINHOLE; SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV and
OPENCV_FISHEYE, whose photos are undistorted on reading (npcr.data.distortion); others are refused.
COLMAP puts pixel centres at half-integers; npcr at integers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .distortion import Distortion
from .scene import Scene, check_intrinsics

UNDISTORTED_MODELS = {"SIMPLE_PINHOLE", "PINHOLE"}
# model -> (names of its extra parameters in COLMAP's order, fisheye)
DISTORTION_MODELS = {"SIMPLE_RADIAL": (("k1",), False), "RADIAL": (("k1", "k2"), False),
                     "OPENCV": (("k1", "k2", "p1", "p2"), False),
                     "FULL_OPENCV": (("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"), False),
                     "OPENCV_FISHEYE": (("k1", "k2", "k3", "k4"), True)}
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
    return scene_from_reconstruction(rec, images_dir, model, root)


def scene_from_reconstruction(rec, images_dir: Path, where: Path, source: Path) -> Scene:
    """The registered photos of a pycolmap Reconstruction, ordered by name, and its points;
    distorted cameras are undistorted on reading. Errors name ``where``."""
    c2w, Ks, images, distortion = [], [], {}, {}
    for _, img in sorted(rec.images.items(), key=lambda kv: kv[1].name):
        if not img.has_pose:
            continue
        cam = rec.cameras[img.camera_id]
        name = cam.model_name
        if name in DISTORTION_MODELS:
            names, fisheye = DISTORTION_MODELS[name]
            values = dict(zip(names, (float(cam.params[i]) for i in cam.extra_params_idxs())))
            dist = Distortion.from_named(values, fisheye, where)
            if not dist.is_zero:
                distortion[len(c2w)] = dist
        elif name not in UNDISTORTED_MODELS:
            raise DataFormatError(where, f"camera {img.camera_id}: camera model {name} is not "
                                  f"supported; use {', '.join([*UNDISTORTED_MODELS, *DISTORTION_MODELS])}")
        K = np.array(cam.calibration_matrix(), dtype=np.float64)
        check_intrinsics(K, where, f"camera {img.camera_id}", (cam.height, cam.width))
        K[0, 2] -= 0.5
        K[1, 2] -= 0.5
        world_to_cam = np.eye(4)
        world_to_cam[:3] = img.cam_from_world().matrix()
        c2w.append(np.linalg.inv(world_to_cam))
        Ks.append(K)
        images[0, len(c2w) - 1] = images_dir / img.name
    if not c2w:
        raise DataFormatError(where, "no registered images")
    if rec.num_points3D() == 0:
        raise DataFormatError(where, "no 3D points")
    xyz = np.array([p.xyz for _, p in sorted(rec.points3D.items())], dtype=np.float32)
    colors = np.array([p.color for _, p in sorted(rec.points3D.items())], dtype=np.float32) / 255
    return Scene(source, np.stack(c2w), np.stack(Ks), [0], images,
                 point_arrays={0: (xyz, colors)}, distortion=distortion)
