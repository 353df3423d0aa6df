"""Reader and writer of the NPCR/NOPC native layout (datasets/FORMAT.md).

Camera-to-world matrices are (M, 4, 4) float64 arrays with OpenCV camera axes (x right, y down, z
forward); intrinsics are (M, 3, 3). Every parse error names the file and the line.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, NpcrError
from ..fileio import atomic_path, write_image, write_text
from ..outputs import SCENE_WRITER, output_folder
from .scene import Scene
from .textfiles import check_rotation, nonblank_lines, parse_numbers


def read_cam_poses(path: str | Path) -> np.ndarray:
    """Read ``CamPose.inf``: one camera a line, columns z, x, y, centre. Returns (M, 4, 4)."""
    path = Path(path)
    poses = []
    for lineno, line in nonblank_lines(path):
        v = np.asarray(parse_numbers(path, lineno, line, 12)).reshape(4, 3)
        c2w = np.eye(4)
        c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = v[1], v[2], v[0], v[3]
        check_rotation(path, lineno, c2w[:3, :3])
        poses.append(c2w)
    if not poses:
        raise DataFormatError(path, "no cameras in file")
    return np.stack(poses)


def write_cam_poses(path: str | Path, cam_to_world: np.ndarray) -> None:
    """Write (M, 4, 4) or (M, 3, 4) camera-to-world matrices as ``CamPose.inf``; non-finite
    cameras are refused here, where every camera file is made."""
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    if not len(cam_to_world):
        raise NpcrError(f"{path}: no cameras to write; nothing written")
    if not np.isfinite(cam_to_world).all():
        bad = int(np.flatnonzero(~np.isfinite(cam_to_world).reshape(len(cam_to_world), -1)
                                 .all(1))[0])
        raise NpcrError(f"{path}: camera {bad} is not finite (NaN or inf); nothing written")
    rows = []
    for c2w in cam_to_world:
        cols = (c2w[:3, 2], c2w[:3, 0], c2w[:3, 1], c2w[:3, 3])
        rows.append(" ".join(f"{x:.9g}" for col in cols for x in col))
    write_text(path, "\n".join(rows) + "\n")


def read_intrinsics(path: str | Path) -> np.ndarray:
    """Read ``Intrinsic.inf`` blocks (index line, three matrix rows). Returns (M, 3, 3)."""
    path = Path(path)
    lines = nonblank_lines(path)
    if len(lines) % 4:
        raise DataFormatError(path, "truncated block: each camera needs an index line and 3 rows",
                              lines[-1][0] if lines else None)
    mats = []
    for b in range(0, len(lines), 4):
        lineno, head = lines[b]
        idx = parse_numbers(path, lineno, head, 1)[0]
        if idx != len(mats):
            raise DataFormatError(path, f"expected camera index {len(mats)}, found {head.strip()}",
                                  lineno)
        k = np.array([parse_numbers(path, ln, text, 3) for ln, text in lines[b + 1:b + 4]])
        if k[0, 0] <= 0 or k[1, 1] <= 0 or np.any(k[2] != (0, 0, 1)) or k[1, 0] != 0:
            raise DataFormatError(path, "not a pinhole matrix [fx s cx; 0 fy cy; 0 0 1] with "
                                  "fx, fy > 0", lines[b + 1][0])
        mats.append(k)
    if not mats:
        raise DataFormatError(path, "no intrinsics in file")
    return np.stack(mats)


def intrinsics_per_camera(K: np.ndarray, count: int, source: str | Path) -> np.ndarray:
    """(count, 3, 3) intrinsics from ``K`` (M, 3, 3) read from ``source``: one block serves every
    camera, else there must be one per camera."""
    if K.shape[0] == 1:
        return np.repeat(K, count, axis=0)
    if K.shape[0] != count:
        raise DataFormatError(source, f"{K.shape[0]} intrinsic blocks for {count} cameras (need "
                              "one per camera, or one block for all)")
    return K


def read_cameras(campose: str | Path, intrinsics: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world (M, 4, 4) from a ``CamPose.inf`` and intrinsics (M, 3, 3) from an
    ``Intrinsic.inf`` with one block for all cameras or one per camera."""
    c2w = read_cam_poses(campose)
    return c2w, intrinsics_per_camera(read_intrinsics(intrinsics), len(c2w), intrinsics)


def write_intrinsics(path: str | Path, K: np.ndarray) -> None:
    """Write (M, 3, 3) intrinsics as ``Intrinsic.inf`` blocks (finite ones only)."""
    if not np.isfinite(np.asarray(K, dtype=np.float64)).all():
        raise NpcrError(f"{path}: intrinsics are not finite (NaN or inf); nothing written")
    blocks = []
    for i, k in enumerate(np.asarray(K, dtype=np.float64)):
        rows = "\n".join(" ".join(f"{x:.9g}" for x in row) for row in k)
        blocks.append(f"{i}\n{rows}\n")
    write_text(path, "\n".join(blocks))


def read_points(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a point cloud: ``.txt`` (x y z [r g b [nx ny nz]]) and ``.obj`` vertices here, .ply, .pcd,
    .xyz, .xyzrgb, .pts through open3d.

    Returns positions (N, 3) float32 and colours (N, 3) float32 in [0, 1] or None.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    if path.suffix.lower() == ".obj":
        return _read_obj_vertices(path)
    if path.suffix.lower() != ".txt":
        return _read_points_open3d(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about empty files; refused below
            data = np.loadtxt(path, dtype=np.float64, ndmin=2)
        ok = data.size == 0 or (data.shape[1] in (3, 6, 9) and np.isfinite(data).all())
    except ValueError:
        ok = False
    if not ok:  # slow path only to name the offending line
        width = None
        for lineno, line in nonblank_lines(path):
            width = width or len(line.split())
            parse_numbers(path, lineno, line, (width,) if width in (3, 6, 9) else (3, 6, 9))
        raise DataFormatError(path, "could not parse point cloud")
    if data.size == 0:
        raise DataFormatError(path, "point cloud is empty")
    xyz = data[:, :3].astype(np.float32)
    colors = None
    if data.shape[1] >= 6:
        colors = data[:, 3:6]
        colors = (colors / 255.0 if colors.max() > 1.0 else colors).astype(np.float32)
    return xyz, colors


def _read_obj_vertices(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``v x y z [r g b]`` lines of an .obj file."""
    rows = [parse_numbers(path, ln, text.split(None, 1)[1] if " " in text.strip() else "", (3, 6))
            for ln, text in nonblank_lines(path) if text.split()[0] == "v"]
    if not rows:
        raise DataFormatError(path, "point cloud is empty (no 'v' lines)")
    data = np.array([r[:3] for r in rows], dtype=np.float32)
    colors = np.array([r[3:] for r in rows], dtype=np.float32) if len(rows[0]) == 6 else None
    return data, colors


PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2,
             "uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
             "double": 8, "float64": 8}


def check_ply_length(path: Path) -> None:
    """Refuse a binary PLY shorter than its header promises (open3d reads a truncated one with
    the missing points at the origin). Files with list properties before the last element's end
    cannot be sized from the header alone and are only checked up to the first list."""
    with open(path, "rb") as f:
        head = f.read(65536)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        return
    body_start = head.index(b"\n", end) + 1
    header = head[:body_start].decode("ascii", "replace").splitlines()
    if not any(ln.startswith("format binary") for ln in header):
        return
    need, count, record = 0, 0, 0
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            need += count * record
            count, record = int(words[2]), 0
        elif words[:1] == ["property"]:
            if words[1] == "list":
                return
            record += PLY_SIZES.get(words[1], 0)
    need += count * record
    size = path.stat().st_size - body_start
    if size < need:
        raise DataFormatError(path, f"truncated: the header promises {need} bytes of data, the "
                                    f"file holds {size}")


def _read_points_open3d(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """.ply, .pcd, .xyz, .xyzrgb, .pts through open3d's point reader."""
    import open3d as o3d

    if path.suffix.lower() == ".ply":
        check_ply_length(path)
    geom = o3d.io.read_point_cloud(str(path))
    xyz, cols = np.asarray(geom.points), np.asarray(geom.colors)
    if xyz.shape[0] == 0:
        raise DataFormatError(path, "point cloud is empty or unreadable")
    if not np.isfinite(xyz).all():
        raise DataFormatError(path, "point cloud has non-finite coordinates")
    colors = cols.astype(np.float32) if len(cols) == len(xyz) else None
    return xyz.astype(np.float32), colors


def write_points_txt(path: str | Path, xyz: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write ``x y z [r g b]`` lines (colours as 0-255 integers); an empty cloud is refused."""
    path = Path(path)
    data = np.asarray(xyz, dtype=np.float64)
    if not len(data):
        raise NpcrError(f"{path}: no points to write (the cloud is empty); nothing written")
    fmt = ["%.7g"] * 3
    if colors is not None:
        data = np.concatenate([data, np.round(np.clip(colors, 0, 1) * 255)], axis=1)
        fmt += ["%d"] * 3
    with atomic_path(path) as tmp:
        np.savetxt(tmp, data, fmt=fmt)


def _find_image(folder: Path, stem: str) -> Path:
    for ext in (".png", ".jpg", ".jpeg"):
        p = folder / (stem + ext)
        if p.is_file():
            return p
    return folder / (stem + ".png")


def _spiral(root: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The optional CamPose_spiral.inf / Intrinsic_spiral.inf camera path."""
    if not (root / "CamPose_spiral.inf").is_file():
        return None
    return read_cameras(root / "CamPose_spiral.inf", root / "Intrinsic_spiral.inf")


def load_native_scene(root: str | Path) -> Scene:
    """Read and validate a native-layout scene; check every image, alpha and point file exists."""
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(root, "dataset folder not found")
    c2w, K = read_cameras(root / "CamPose.inf", root / "Intrinsic.inf")
    img_dir = root / "img"
    frames = sorted(int(p.name) for p in img_dir.iterdir() if re.fullmatch(r"\d+", p.name)) \
        if img_dir.is_dir() else []
    if not frames:
        raise DataFormatError(img_dir, "no frame folders img/<frame>/")
    images, alphas, valid = {}, {}, {}
    for frame in frames:
        folder = img_dir / str(frame)
        # mattes: for every photo of a frame or for none (photos without mattes are opaque)
        has_mattes = any(folder.glob("img_*_alpha.*"))
        for cam in range(c2w.shape[0]):
            images[frame, cam] = _find_image(folder, f"img_{cam:04d}")
            if has_mattes:
                alphas[frame, cam] = _find_image(folder, f"img_{cam:04d}_alpha")
            mask = folder / f"img_{cam:04d}_valid.png"
            if mask.is_file():
                valid[frame, cam] = mask
    points = {f: root / "pointclouds" / f"frame{f + 1}.txt" for f in frames}
    scene = Scene(root, c2w, K, frames, images, alphas, points, render_path=_spiral(root),
                  valid_masks=valid)
    return scene


def write_native_scene(root: str | Path, cam_to_world: np.ndarray, K: np.ndarray,
                       images: list[np.ndarray], alphas: list[np.ndarray], points: np.ndarray,
                       colors: np.ndarray | None = None, overwrite: bool = False) -> None:
    """Write one frame (frame 0) of a scene: images are (H, W, 3) uint8 RGB, alphas (H, W) uint8.

    The scene is assembled in a temporary folder that becomes ``root`` only when complete (see
    ``npcr.outputs`` for a ``root`` that is not empty).
    """
    write_native_sequence(root, cam_to_world, K, [(images, alphas, points, colors)], overwrite)


def write_native_sequence(root: str | Path, cam_to_world: np.ndarray, K: np.ndarray,
                          frames: list[tuple[list, list, np.ndarray, np.ndarray | None]],
                          overwrite: bool = False) -> None:
    """Write frames 0, 1, ... of a scene seen by fixed cameras; each frame is (images, alphas,
    points, colors) as in ``write_native_scene``, as that writes them."""
    with output_folder(root, SCENE_WRITER, overwrite) as tmp:
        write_cam_poses(tmp / "CamPose.inf", cam_to_world)
        write_intrinsics(tmp / "Intrinsic.inf", K)
        for f, (images, alphas, points, colors) in enumerate(frames):
            if not len(images) == len(alphas) == len(cam_to_world):
                raise ValueError("need one image and one alpha per camera")
            for cam, (img, alpha) in enumerate(zip(images, alphas)):
                write_image(tmp / "img" / str(f) / f"img_{cam:04d}.png", img)
                write_image(tmp / "img" / str(f) / f"img_{cam:04d}_alpha.png", alpha)
            write_points_txt(tmp / "pointclouds" / f"frame{f + 1}.txt", points, colors)


def write_native_photo(folder: Path, camera: int, rgb: np.ndarray, alpha: np.ndarray,
                       valid: np.ndarray | None, matte: bool = True) -> None:
    """One photo of the native layout: ``img_%04d.png``, its matte ``img_%04d_alpha.png`` when
    ``matte`` and, for an undistorted photo, its ``img_%04d_valid.png`` (255 where it has data)."""
    write_image(folder / f"img_{camera:04d}.png", rgb)
    if matte:
        write_image(folder / f"img_{camera:04d}_alpha.png", alpha)
    if valid is not None:
        write_image(folder / f"img_{camera:04d}_valid.png", valid.astype(np.uint8) * 255)


def write_native(scene: Scene, folder: Path) -> None:
    """Write every frame of ``scene`` into ``folder`` in the native layout (PNG images and mattes,
    text clouds); ``npcr.data.formats.write_scene`` applies the output rule."""
    folder = Path(folder)
    write_cam_poses(folder / "CamPose.inf", scene.cam_to_world)
    write_intrinsics(folder / "Intrinsic.inf", scene.K)
    for frame in scene.frames:
        # mattes for every photo of the frame or none (a photo without one is opaque)
        mattes = any(scene.has_matte(frame, cam) for cam in range(scene.num_cameras))
        for cam in range(scene.num_cameras):
            write_native_photo(folder / "img" / str(frame), cam, *scene.read(frame, cam),
                               matte=mattes)
        xyz, colors = scene.points(frame)
        write_points_txt(folder / "pointclouds" / f"frame{frame + 1}.txt", xyz, colors)
    if scene.render_path is not None:
        write_cam_poses(folder / "CamPose_spiral.inf", scene.render_path[0])
        write_intrinsics(folder / "Intrinsic_spiral.inf", scene.render_path[1])
