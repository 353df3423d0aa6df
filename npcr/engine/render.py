"""Rendering a trained model along cameras: RGBA frames, depth and an mp4, driven by an ignite
Engine."""
from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass

import numpy as np
import torch
from ignite.engine import Engine
from ignite.handlers import ProgressBar

from ..data import (intrinsics_per_camera, measured_cameras, read_cam_poses, read_cameras,
                    write_cam_poses, write_intrinsics)
from ..camera_paths import scene_orbit
from ..data.images import read_image
from ..errors import NpcrError
from ..geometry import Cameras
from ..fileio import save_npy, write_image
from ..outputs import check_output, output_folder
from ..mp4_writer import open_video
from .runtime import check_render_fits, setup_logger
from .trained import Trained, load_trained

RENDER_TOOL = "tools/render.py"


def _cameras(scene, campose: Path | None, intrinsics: Path | None,
             default_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(M, 4, 4) camera-to-world and (M, 3, 3) intrinsics at the dataset's native image size."""
    if campose is None:
        if intrinsics is not None:
            raise NpcrError("--intrinsics needs --cameras")
        return scene.cam_to_world[default_ids], scene.K[default_ids]
    if intrinsics is not None:
        return read_cameras(campose, intrinsics)
    c2w = read_cam_poses(campose)
    return c2w, intrinsics_per_camera(scene.K[:1], len(c2w), "the dataset's Intrinsic.inf")


@dataclass
class Orbit:
    """An orbit around the object (npcr.camera_paths.scene_orbit): azimuth range in degrees from
    the first camera, fixed elevation, radius (None: the cameras' mean distance)."""
    azimuth: tuple[float, float]
    elevation: float = 0.0
    radius: float | None = None
    frames: int = 72


def camera_path(trained: Trained, frame: int, campose: str | Path | None = None,
                intrinsics: str | Path | None = None, size: tuple[int, int] | None = None,
                spiral: bool = False, orbit: Orbit | None = None) -> Cameras:
    """The cameras ``tools/render.py``'s options name (default: the held-out ones) at the render
    size (default: the training size); ``spiral`` takes the dataset's CamPose_spiral.inf, ``orbit``
    circles the frame's point cloud with the first camera's intrinsics."""
    cfg, data = trained.cfg, trained.data
    default_ids = measured_cameras(data.scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS),
                                   list(cfg.DATASETS.SELECT_CAMERAS))
    if sum([spiral, orbit is not None, campose is not None]) > 1:
        raise NpcrError("choose one of --cameras, --spiral and --orbit")
    if orbit is not None:
        if orbit.frames < 1 or (orbit.radius is not None and not orbit.radius > 0):
            raise NpcrError("--orbit needs --frames >= 1 and --radius > 0")
        if not np.isfinite([*orbit.azimuth, orbit.elevation]).all() \
                or (orbit.radius is not None and not np.isfinite(orbit.radius)):
            raise NpcrError(f"--orbit {orbit.azimuth[0]}:{orbit.azimuth[1]}, --elevation "
                            f"{orbit.elevation}, --radius {orbit.radius}: need finite numbers")
        points = trained.data.clouds.points[frame].cpu().numpy()
        c2w = scene_orbit(data.scene.cam_to_world, points, orbit.azimuth, orbit.elevation,
                          orbit.frames, orbit.radius)
        K = intrinsics_per_camera(data.scene.K[:1], orbit.frames, "the dataset's Intrinsic.inf")
    elif spiral:
        if campose or data.scene.render_path is None:
            raise NpcrError("--spiral needs a dataset with CamPose_spiral.inf and no --cameras")
        c2w, K = data.scene.render_path
    else:
        c2w, K = _cameras(data.scene, Path(campose) if campose else None,
                          Path(intrinsics) if intrinsics else None, default_ids)
    native_hw = read_image(data.scene.image_path(frame, 0)).shape[:2]
    train_hw = tuple(cfg.INPUT.SIZE) if min(cfg.INPUT.SIZE) > 0 else native_hw
    height, width = size or train_hw
    if min(height, width) < 1:
        raise NpcrError(f"--size {height} {width}: need a height and width >= 1")
    return Cameras(np.asarray(K, dtype=np.float64), np.asarray(c2w, dtype=np.float64),
                   *native_hw).resized(height, width)


def pick_frame(trained: Trained, frame: int | None) -> int:
    """``frame`` (default: the first trained frame), checked against the trained frames."""
    frame = trained.data.frames[0] if frame is None else frame
    if frame not in trained.data.frames:
        raise NpcrError(f"--frame {frame}: the model was trained on frames {trained.data.frames}")
    return frame


def frames_along(trained: Trained, frame: int | str | None, count: int) -> list[int]:
    """The point-cloud frame of each of ``count`` cameras: ``frame`` for all, or with "all" the
    trained frames in order, time running evenly along the path (a dynamic scene's video)."""
    if frame == "all":
        frames = trained.data.frames
        return [frames[i * len(frames) // count] for i in range(count)]
    return [pick_frame(trained, frame)] * count


def photo_ids(trained: Trained, photo: int | None) -> torch.Tensor | None:
    """The (1,) camera id whose photometric correction renders apply, or None (uncorrected)."""
    if photo is None:
        return None
    photometric = trained.model.photometric
    if photometric is None:
        raise NpcrError("--photo: the model has no photometric correction "
                        "(MODEL.PHOTOMETRIC was off in training)")
    trained_ids = torch.nonzero(photometric.trained).flatten().tolist()
    if photo not in trained_ids:
        raise NpcrError(f"--photo {photo}: not a training photo; choose one of {trained_ids}")
    return torch.tensor([photo], device=trained.device)


def to_rgba8(rgba: torch.Tensor) -> np.ndarray:
    """(1, 4, H, W) float in [0, 1] -> (H, W, 4) uint8."""
    return (rgba[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


def render_views(output_dir: str | Path, epoch: int | str | None = None, campose: str | Path | None = None,
                 intrinsics: str | Path | None = None, out: str | Path | None = None,
                 size: tuple[int, int] | None = None, fps: int = 24,
                 frame: int | str | None = None, spiral: bool = False, depth: bool = False,
                 orbit: Orbit | None = None, photo: int | None = None,
                 overwrite: bool = False) -> Path:
    """Render cameras (default: the held-out ones) with a trained model; returns the output folder.

    Writes ``frame_%04d.png`` (RGBA) per camera, in order, ``video.mp4`` (encoded as frames come,
    so memory does not grow with the path) and the cameras as rendered (``CamPose.inf``,
    ``Intrinsic.inf`` at the render size); with ``depth`` also the layer-0 depth of each frame
    as ``depth_%04d.npy`` (float32, 0 = empty), which tools/refine.py --cache and
    tools/evaluate.py --temporal read. ``frame`` picks the point cloud among the trained frames;
    "all" plays the trained frames along the path (see ``frames_along``). ``photo`` applies that
    training photo's exposure and white balance (MODEL.PHOTOMETRIC) to every frame. ``out``
    follows the output rule of ``npcr.outputs`` (``overwrite``: --overwrite).
    """
    output_dir = Path(output_dir)
    log = setup_logger()
    if out is not None:
        check_output(out, RENDER_TOOL, overwrite)  # before loading anything
    trained = load_trained(output_dir, epoch)
    photos = photo_ids(trained, photo)
    first = trained.data.frames[0] if frame in (None, "all") else pick_frame(trained, frame)
    path = camera_path(trained, first, campose, intrinsics, size, spiral, orbit)
    check_render_fits(trained.cfg, path.height, path.width, trained.device)
    frames = frames_along(trained, frame, len(path.cam_to_world))
    out = Path(out) if out else output_dir / f"render_{trained.epoch}"
    with output_folder(out, RENDER_TOOL, overwrite) as stage:
        _render_into(stage, trained, path, frames, photos, depth, fps)
    log.info("rendered %d frames of %dx%d to %s (epoch %d)", len(path.cam_to_world), path.width,
             path.height, out, trained.epoch)
    return out


def _render_into(folder: Path, trained: Trained, path: Cameras, frames: list[int],
                 photos: torch.Tensor | None, depth: bool, fps: int) -> None:
    """``render_views``' files, written into ``folder``."""
    write_cam_poses(folder / "CamPose.inf", path.cam_to_world)
    write_intrinsics(folder / "Intrinsic.inf", path.K)
    cameras = path.to(trained.device)

    with open_video(folder / "video.mp4", fps) as video:
        @torch.no_grad()
        def render_step(engine: Engine, i: int) -> None:
            o = trained.render([frames[i]], cameras[i], photos)
            rgba = to_rgba8(torch.cat([o["rgb"], o["alpha"]], 1))
            write_image(folder / f"frame_{i:04d}.png", rgba)
            if depth:
                save_npy(folder / f"depth_{i:04d}.npy", o["depth"][0, 0].float().cpu().numpy())
            video.write(rgba[..., :3])

        engine = Engine(render_step)
        ProgressBar(persist=True, desc="render").attach(engine)
        engine.run(range(len(path.cam_to_world)), max_epochs=1)
