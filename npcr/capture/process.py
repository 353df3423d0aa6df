"""The capture pipeline behind tools/process_capture.py: photos, a video or a posed scene in, a
training-ready native scene out (pinhole photos of one size, cameras, points)."""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..data.colmap import scene_from_reconstruction
from ..data.formats import detect_format, load_scene_from
from ..data.images import read_image
from ..data.npcr_layout import write_cam_poses, write_intrinsics, write_native_photo, write_points_txt
from ..data.scene import Scene
from ..errors import DataFormatError, NpcrError
from ..fileio import write_image, write_text
from ..outputs import SCENE_WRITER, check_output, output_folder
from .densify import DensifyOptions, densify
from .photos import fit_photo, list_photos, output_size
from .sfm import (ALL_CORES, extract_and_match, incremental_sfm, quiet_colmap,
                  triangulate_known_poses)
from .video_frames import VIDEO_EXTENSIONS, extract_frames

POINT_CHOICES = ("given", "sparse", "dense")


@dataclass
class CaptureOptions:
    max_size: int = 1000  # longest side of the written photos (0: as they are)
    matcher: str | None = None  # exhaustive | sequential; None: sequential for a video
    skip_missing: bool = False  # drop cameras whose files are missing instead of refusing
    points: str | None = None  # given | sparse | dense; None: the input's cloud, else dense
    fps: float = 2.0  # frames taken per second of a video
    densify: DensifyOptions = field(default_factory=DensifyOptions)
    seed: int = 0
    # CPU threads of structure from motion (0: all); 1 gives the same poses and points every run
    threads: int = 0


class Stages:
    """Times named stages and reports their start and end through ``progress``."""

    def __init__(self, progress: Callable[[str], None]):
        self.progress, self.seconds = progress, {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(f"[{name}] ...")
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 1)
        self.progress(f"[{name}] done in {self.seconds[name]:.1f} s")


@dataclass
class Pinhole:
    """The photos as they will be written: (H, W, 3) RGB, mattes or None, valid masks or None,
    and their cameras."""

    rgb: list[np.ndarray]
    alpha: list[np.ndarray | None]
    valid: list[np.ndarray | None]
    K: np.ndarray
    cam_to_world: np.ndarray
    names: list[str]


def input_kind(path: Path) -> str:
    """"video", "photos" (a folder of photos without poses) or a scene format name."""
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    if not path.exists():
        raise DataFormatError(path, "not found")
    try:
        return detect_format(path)
    except DataFormatError:
        if path.is_dir() and list_photos(path):
            return "photos"
        raise DataFormatError(path, "neither a video, a folder of photos, nor a scene "
                              "(CamPose.inf, transforms.json, a COLMAP model)") from None


def posed_scene(path: Path, skip_missing: bool, progress: Callable[[str], None]) -> tuple[Scene, list]:
    """The scene at ``path`` and the cameras dropped for missing files (refused unless
    ``skip_missing``); one frame only."""
    scene = load_scene_from(path, check_files=False)
    if len(scene.frames) > 1:
        raise NpcrError(f"{path}: {len(scene.frames)} frames; process_capture takes one-frame "
                        "captures (tools/prepare_points.py cleans multi-frame scenes)")
    missing = sorted({cam for _, cam in scene.missing_photos()})
    if missing and not skip_missing:
        scene.check_files()
    if missing:
        progress(f"skipping {len(missing)} cameras with missing files: {missing[:10]}"
                 f"{' ...' if len(missing) > 10 else ''}")
        scene = scene.without_cameras(set(missing))
    scene.check_files()
    return scene, missing


def sfm_scene(photos: list[Path], work: Path, opts: CaptureOptions, matcher: str,
              stages: Stages) -> tuple[Scene, dict]:
    """Poses and sparse points of unposed photos: copied turned to one orientation and scaled to
    ``opts.max_size``, then pycolmap SfM. Refuses when fewer than half register."""
    names = [f"{p.stem}.png" for p in photos]
    if len(set(names)) != len(names):
        raise DataFormatError(photos[0].parent, "two photos share a name apart from the extension")
    sizes = [read_image(p).shape[:2] for p in photos]
    size = output_size(sizes, opts.max_size)
    images = work / "images"
    with stages("photos"):
        for p, name in zip(photos, names):
            write_image(images / name, fit_photo(read_image(p), size)[0])
    with stages("features+matching"):
        extract_and_match(images, names, work / "database.db", matcher,
                          threads=colmap_threads(opts))
    with stages("mapping"):
        rec = incremental_sfm(images, work / "database.db", work / "sparse", opts.seed,
                              threads=colmap_threads(opts))
    registered = 0 if rec is None else rec.num_reg_images()
    if registered * 2 < len(photos):
        hint = " (or try --matcher exhaustive)" if matcher != "exhaustive" else ""
        raise NpcrError(f"{photos[0].parent}: only {registered} of {len(photos)} photos registered "
                        f"in structure from motion; the photos need more overlap{hint}")
    scene = scene_from_reconstruction(rec, images, work / "sparse", work)
    kept = {p.name for p in scene.images.values()}
    dropped = [str(p.name) for p, n in zip(photos, names) if n not in kept]
    return scene, {"photos": len(photos), "registered": registered, "unregistered": dropped,
                   "sparse_points": rec.num_points3D(),
                   "reprojection_error_px": round(rec.compute_mean_reprojection_error(), 3)}


def colmap_threads(opts: CaptureOptions) -> int:
    """``opts.threads`` as COLMAP counts them."""
    return opts.threads or ALL_CORES


def pinhole_photos(scene: Scene, max_size: int) -> Pinhole:
    """Every photo undistorted (same K), turned to the majority orientation and resized to one
    size, with its matte (if any), valid mask and camera."""
    size = output_size([read_image(scene.image_path(0, c)).shape[:2]
                        for c in range(scene.num_cameras)], max_size)
    out = Pinhole([], [], [], np.zeros((scene.num_cameras, 3, 3)),
                  np.array(scene.cam_to_world, dtype=np.float64), [])
    for cam in range(scene.num_cameras):
        rgb, alpha, valid = scene.read(0, cam)
        rgb, K, c2w = fit_photo(rgb, size, scene.K[cam], scene.cam_to_world[cam])
        out.rgb.append(rgb)
        out.alpha.append(fit_photo(alpha, size)[0] if scene.has_matte(0, cam) else None)
        out.valid.append(None if valid is None else
                         fit_photo(valid.astype(np.uint8) * 255, size)[0] == 255)
        out.K[cam], out.cam_to_world[cam] = K, c2w
        out.names.append(scene.image_path(0, cam).name)
    return out


def choose_points(scene: Scene, kind: str, requested: str | None) -> str:
    has_cloud = 0 in scene.point_files or 0 in scene.point_arrays
    if requested is None:
        return "given" if has_cloud and kind not in ("colmap", "photos", "video") else "dense"
    if requested not in POINT_CHOICES:
        raise NpcrError(f"--points {requested!r}: choose {', '.join(POINT_CHOICES)}")
    if requested == "given" and not has_cloud:
        raise NpcrError(f"--points given: {scene.source} has no point cloud")
    return requested


def sparse_points(scene: Scene, photos: Pinhole, work: Path, matcher: str,
                  threads: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene's own points (SfM, COLMAP, a given cloud), else points triangulated from the
    photos with their poses held fixed."""
    if 0 in scene.point_arrays or 0 in scene.point_files:
        return scene.points(0)
    folder = work / "pinhole"
    names = [f"{i:04d}.png" for i in range(len(photos.rgb))]
    for name, rgb in zip(names, photos.rgb):
        write_image(folder / name, rgb)
    return triangulate_known_poses(folder, names, photos.K, photos.cam_to_world,
                                   work / "triangulation.db", work / "triangulated", matcher,
                                   threads)


def write_capture(out: Path, photos: Pinhole, xyz: np.ndarray, colors: np.ndarray | None,
                  summary: dict, overwrite: bool) -> None:
    """The native scene: cameras, photos (mattes, valid masks), the cloud and capture.json."""
    with output_folder(out, SCENE_WRITER, overwrite) as tmp:
        write_cam_poses(tmp / "CamPose.inf", photos.cam_to_world)
        write_intrinsics(tmp / "Intrinsic.inf", photos.K)
        for cam, (rgb, alpha, valid) in enumerate(zip(photos.rgb, photos.alpha, photos.valid)):
            write_native_photo(tmp / "img" / "0", cam, rgb,
                               alpha if alpha is not None else np.full(rgb.shape[:2], 255, np.uint8),
                               valid, matte=alpha is not None)
        write_points_txt(tmp / "pointclouds" / "frame1.txt", xyz, colors)
        write_text(tmp / "capture.json", json.dumps(summary, indent=2) + "\n")


def process_capture(inp: str | Path, out: str | Path, opts: CaptureOptions,
                    overwrite: bool = False, progress: Callable[[str], None] = print) -> dict:
    """Run the pipeline; returns the summary (also written to OUT/capture.json): photos,
    registered, points, seconds per stage. Camera i of OUT is photo i of the input (in name
    order for photos and video frames), less those that did not register or were skipped."""
    inp, out = Path(inp), Path(out)
    check_output(out, SCENE_WRITER, overwrite)  # before minutes of work
    kind = input_kind(inp)
    matcher = opts.matcher or ("sequential" if kind == "video" else "exhaustive")
    stages = Stages(progress)
    summary: dict = {"input": str(inp.resolve()), "kind": kind, "matcher": matcher}
    with tempfile.TemporaryDirectory(prefix="npcr-capture-") as tmp, quiet_colmap():
        work = Path(tmp)
        if kind in ("video", "photos"):
            folder = inp
            if kind == "video":
                with stages("frames"):
                    summary.update(extract_frames(inp, work / "frames", opts.fps, progress=progress))
                folder = work / "frames"
            scene, counts = sfm_scene(list_photos(folder), work, opts, matcher, stages)
            summary.update(counts)
            dropped = counts["unregistered"]
            progress(f"registered {counts['registered']} of {counts['photos']} photos, "
                     f"{counts['sparse_points']} sparse points"
                     + (f"; not registered: {', '.join(dropped[:10])}" if dropped else ""))
        else:
            with stages("read"):
                scene, missing = posed_scene(inp, opts.skip_missing, progress)
            summary.update(photos=scene.num_cameras + len(missing), skipped_missing=missing)
        with stages("undistort"):
            photos = pinhole_photos(scene, opts.max_size)
        summary.update(cameras=len(photos.rgb), size=list(photos.rgb[0].shape[:2]),
                       undistorted=len(scene.distortion), mattes=photos.alpha[0] is not None)
        points = choose_points(scene, kind, opts.points)
        summary["points_from"] = points
        if points == "given":
            xyz, colors = scene.points(0)
        else:
            with stages("sparse points"):
                xyz, colors = sparse_points(scene, photos, work, matcher, colmap_threads(opts))
            summary["sparse_points"] = len(xyz)
            if points == "dense":
                with stages("densify"):
                    try:
                        xyz, colors, stats = densify(photos.rgb, photos.valid, photos.K,
                                                     photos.cam_to_world, xyz, opts.densify,
                                                     progress)
                    except ValueError as exc:
                        raise NpcrError(f"{inp}: dense points failed: {exc}") from None
                summary["densify"] = stats
        summary["points"] = len(xyz)
        summary["seconds"] = stages.seconds
        with stages("write"):
            write_capture(out, photos, xyz, colors, summary, overwrite)
    summary["seconds"] = stages.seconds
    return summary
