"""NeRF / nerfstudio ``transforms.json``: read and write.

Conventions converted on the way in and out: transform matrices are camera-to-world with OpenGL
camera axes (x right, y up, z backwards), npcr uses OpenCV axes (y down, z forward); nerfstudio puts
pixel centres at half-integers (cx = w / 2 is the image centre), npcr at integers (cx = (w - 1) / 2).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, NpcrError
from ..geometry import focal_from_fov
from .distortion import Distortion
from .npcr_layout import check_ply_length
from .scene import Scene, check_intrinsics

GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y",
                  "camera_model", "k1", "k2", "k3", "k4", "p1", "p2")
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
# nerfstudio's camera models: OPENCV (k1, k2, k3 radial, p1, p2 tangential), OPENCV_FISHEYE
# (k1..k4); PINHOLE or none: no distortion
CAMERA_MODELS = {"PINHOLE": None, "OPENCV": False, "OPENCV_FISHEYE": True}


def _distortion(path: Path, params: dict, where: str) -> Distortion | None:
    """The lens distortion ``params`` describe, None for a pinhole; an unknown camera model or
    coefficients it lacks are refused."""
    model = params.get("camera_model", "OPENCV" if any(params.get(k) for k in DISTORTION_KEYS)
                       else "PINHOLE")
    if model not in CAMERA_MODELS:
        raise DataFormatError(path, f"{where}: camera_model {model!r} is not supported; use "
                              f"{', '.join(CAMERA_MODELS)}")
    values = {k: params[k] for k in DISTORTION_KEYS if k in params}
    if CAMERA_MODELS[model] is None:
        if any(values.values()):
            raise DataFormatError(path, f"{where}: a PINHOLE camera with distortion {values}")
        return None
    if not all(isinstance(v, (int, float)) for v in values.values()):
        raise DataFormatError(path, f"{where}: distortion coefficients must be numbers")
    dist = Distortion.from_named(values, CAMERA_MODELS[model], f"{path}: {where}")
    return None if dist.is_zero else dist


def _image_file(root: Path, name: str) -> Path:
    path = root / name
    if path.suffix:
        return path
    for ext in (".png", ".jpg", ".jpeg"):  # NeRF's synthetic scenes omit the extension
        if path.with_suffix(ext).is_file():
            return path.with_suffix(ext)
    return path.with_suffix(".png")


def _intrinsics(path: Path, params: dict, image: Path, where: str) -> np.ndarray:
    w, h = params.get("w"), params.get("h")
    if w is None or h is None:
        import cv2

        img = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DataFormatError(image, "image missing or not decodable")
        h, w = img.shape[:2]
    fx = params.get("fl_x")
    if fx is None and "camera_angle_x" in params:
        fx = focal_from_fov(w, params["camera_angle_x"])
    fy = params.get("fl_y")
    if fy is None and "camera_angle_y" in params:
        fy = focal_from_fov(h, params["camera_angle_y"])
    fy = fy if fy is not None else fx
    if fx is None:
        raise DataFormatError(path, f"{where}: no focal length (fl_x or camera_angle_x)")
    cx, cy = params.get("cx", w / 2), params.get("cy", h / 2)
    values = [fx, fy, cx, cy]
    if not all(isinstance(v, (int, float)) for v in values):
        raise DataFormatError(path, f"{where}: intrinsics must be numbers, got {values}")
    check_intrinsics(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64), path,
                     where, (h, w))
    return np.array([[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]], dtype=np.float64)


def read_transforms(path: str | Path) -> Scene:
    """Read ``transforms.json`` (or a folder holding one) as a one-frame scene."""
    path = Path(path)
    if path.is_dir():
        path = path / "transforms.json"
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"invalid JSON: {exc.msg}", exc.lineno) from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not frames:
        raise DataFormatError(path, "no 'frames' list")
    root = path.parent
    c2w, Ks, images, distortion = [], [], {}, {}
    for i, fr in enumerate(frames):
        where = f"frames[{i}]"
        if "file_path" not in fr or "transform_matrix" not in fr:
            raise DataFormatError(path, f"{where}: needs file_path and transform_matrix")
        m = np.asarray(fr["transform_matrix"], dtype=np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise DataFormatError(path, f"{where}: transform_matrix must be 4x4 finite numbers")
        rot = m[:3, :3]
        if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-3:
            raise DataFormatError(path, f"{where}: rotation is not orthonormal")
        image = _image_file(root, fr["file_path"])
        params = {k: meta[k] for k in INTRINSIC_KEYS if k in meta}
        params.update({k: fr[k] for k in INTRINSIC_KEYS if k in fr})
        Ks.append(_intrinsics(path, params, image, where))
        dist = _distortion(path, params, where)
        if dist is not None:
            distortion[i] = dist
        c2w.append(m @ GL_TO_CV)
        images[0, i] = image
    scene = Scene(root, np.stack(c2w), np.stack(Ks), [0], images, distortion=distortion)
    if "ply_file_path" in meta:
        scene.point_files[0] = root / meta["ply_file_path"]
    return scene


def write_transforms(scene: Scene, folder: Path, frame: int = 0) -> None:
    """Write one frame of ``scene`` into ``folder`` as ``transforms.json`` + RGBA ``images/`` +
    ``points.ply``; ``npcr.data.formats.write_scene`` applies the output rule."""
    import cv2
    import open3d as o3d

    folder = Path(folder)
    if not scene.num_cameras:
        raise NpcrError(f"{scene.source}: no cameras to write; nothing written")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for cam in range(scene.num_cameras):
        rgb, alpha, _ = scene.read(frame, cam)  # undistorted: no source -> alpha 0
        name = f"images/frame_{cam:05d}.png"
        rgba = cv2.cvtColor(np.dstack([rgb, alpha]), cv2.COLOR_RGBA2BGRA)
        if not cv2.imwrite(str(folder / name), rgba):
            raise OSError(f"cannot write {folder / name}")
        k = scene.K[cam]
        records.append({"file_path": name, "w": int(rgb.shape[1]), "h": int(rgb.shape[0]),
                        "fl_x": float(k[0, 0]), "fl_y": float(k[1, 1]),
                        "cx": float(k[0, 2] + 0.5), "cy": float(k[1, 2] + 0.5),
                        "transform_matrix": (scene.cam_to_world[cam] @ GL_TO_CV).tolist()})
    meta = {"camera_model": "OPENCV", "frames": records}
    if frame in scene.point_files or frame in scene.point_arrays:
        xyz, colors = scene.points(frame)
        if not len(xyz):
            raise NpcrError(f"{scene.source}: frame {frame}'s cloud is empty; nothing written")
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
        if colors is not None:
            pcd.colors = o3d.utility.Vector3dVector(colors.astype(np.float64))
        written = o3d.io.write_point_cloud(str(folder / "points.ply"), pcd)
        try:
            check_ply_length(folder / "points.ply")  # open3d does not report a short write
        except DataFormatError:
            written = False
        if not written:
            raise OSError(f"cannot write {folder / 'points.ply'} (is the disk full?)")
        meta["ply_file_path"] = "points.ply"
    (folder / "transforms.json").write_text(json.dumps(meta, indent=2) + "\n")
