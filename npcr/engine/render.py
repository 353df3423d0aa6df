"""Rendering a trained model along cameras: RGBA frames and an mp4, driven by an ignite Engine."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar

from ..data import read_cam_poses, read_intrinsics
from ..data.images import read_image, scale_intrinsics
from ..errors import NpcrError
from ..fileio import atomic_path, write_image
from .common import setup_logger
from .trained import load_trained


def _cameras(scene, campose: Path | None, intrinsics: Path | None,
             default_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(M, 4, 4) camera-to-world and (M, 3, 3) intrinsics at the dataset's native image size."""
    if campose is None:
        if intrinsics is not None:
            raise NpcrError("--intrinsics needs --cameras")
        return scene.cam_to_world[default_ids], scene.K[default_ids]
    c2w = read_cam_poses(campose)
    K = read_intrinsics(intrinsics) if intrinsics is not None else scene.K[:1]
    if K.shape[0] == 1:
        K = np.repeat(K, c2w.shape[0], axis=0)
    elif K.shape[0] != c2w.shape[0]:
        raise NpcrError(f"{intrinsics}: {K.shape[0]} intrinsic blocks for {c2w.shape[0]} cameras "
                        f"in {campose} (need equal, or one block)")
    return c2w, K


def render_views(output_dir: str | Path, epoch: int | None = None, campose: str | Path | None = None,
                 intrinsics: str | Path | None = None, out: str | Path | None = None,
                 size: tuple[int, int] | None = None, fps: int = 24,
                 frame: int | None = None, spiral: bool = False) -> Path:
    """Render cameras (default: the held-out ones) with a trained model; returns the output folder.

    ``spiral`` renders the dataset's own camera path (CamPose_spiral.inf) instead; ``frame`` picks
    the point cloud among the trained frames (default: the first). Writes ``frame_%04d.png`` (RGBA)
    per camera, in order, and ``video.mp4``.
    """
    output_dir = Path(output_dir)
    log = setup_logger()
    trained = load_trained(output_dir, epoch)
    cfg, data, model, epoch, device = (trained.cfg, trained.data, trained.model, trained.epoch,
                                       trained.device)
    frame = data.frames[0] if frame is None else frame
    if frame not in data.frames:
        raise NpcrError(f"--frame {frame}: the model was trained on frames {data.frames}")

    default_ids = list(cfg.DATASETS.VAL_CAMERAS) or list(range(data.scene.num_cameras))
    if spiral:
        if campose or data.scene.render_path is None:
            raise NpcrError("--spiral needs a dataset with CamPose_spiral.inf and no --cameras")
        c2w, K = data.scene.render_path
    else:
        c2w, K = _cameras(data.scene, Path(campose) if campose else None,
                          Path(intrinsics) if intrinsics else None, default_ids)
    native_hw = read_image(data.scene.image_path(frame, 0)).shape[:2]
    train_hw = tuple(cfg.INPUT.SIZE) if min(cfg.INPUT.SIZE) > 0 else native_hw
    height, width = size or train_hw
    K = np.stack([scale_intrinsics(k, native_hw, (height, width)) for k in K])

    out = Path(out) if out else output_dir / f"render_{epoch}"
    out.mkdir(parents=True, exist_ok=True)
    K_t = torch.as_tensor(K, dtype=torch.float32, device=device)
    c2w_t = torch.as_tensor(c2w, dtype=torch.float32, device=device)
    frames: list[np.ndarray] = []

    @torch.no_grad()
    def render_step(engine: Engine, i: int) -> None:
        o = model(trained.clouds, [frame], K_t[i:i + 1], c2w_t[i:i + 1], height, width)
        rgba = torch.cat([o["rgb"], o["alpha"]], 1)[0].permute(1, 2, 0)
        rgba = (rgba.clamp(0, 1) * 255).round().byte().cpu().numpy()
        write_image(out / f"frame_{i:04d}.png", rgba)
        frames.append(rgba[..., :3])

    engine = Engine(render_step)
    ProgressBar(persist=True, desc="render").attach(engine)
    engine.add_event_handler(Events.COMPLETED, lambda _: write_video(out / "video.mp4", frames, fps))
    engine.run(range(len(c2w)), max_epochs=1)
    log.info("rendered %d frames of %dx%d to %s (epoch %d)", len(c2w), width, height, out, epoch)
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: int = 24) -> None:
    """Encode RGB frames as an mp4 (opencv's mp4v), written atomically."""
    if not frames:
        raise NpcrError("no frames to encode")
    h, w = frames[0].shape[:2]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise NpcrError(f"{path}: opencv cannot open an mp4 writer")
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
