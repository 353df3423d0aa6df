"""tools/refine.py's rendering: a camera path through the renderer and the refine net, streamed
(only the last NUM_PREV outputs are held), with raw and refined flicker measured on the way."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine
from ignite.handlers import Checkpoint, ProgressBar
from yacs.config import CfgNode

from ..config import load_config
from ..data import read_cameras, write_cam_poses, write_intrinsics
from ..data.images import read_image_and_alpha
from ..engine.checkpoints import TEMPORAL, load_checkpoint
from ..engine.runtime import setup_logger
from ..engine.monitor import peak_memory_mib, reset_peak_memory
from ..engine.evaluate import EVALUATE_TOOL
from ..engine.render import camera_path, pick_frame, to_rgba8
from ..engine.trained import Trained, load_trained
from ..errors import NpcrError, one_line
from ..fileio import save_npy, write_image, write_text
from ..geometry import Cameras
from ..outputs import check_output, output_folder
from ..mp4_writer import open_video
from .net import TemporalRefiner, build_refiner
from .stream import FlickerMeter, StreamingRefiner, View
from .train import REFINE_DIR

REFINE_TOOL = "tools/refine.py"


def load_refiner(output_dir: Path, device: torch.device,
                 epoch: int | None = None) -> tuple[TemporalRefiner, CfgNode]:
    """The refine net trained in ``output_dir``/refine (at ``epoch``, default the latest) and the
    config it was trained with."""
    folder = output_dir / REFINE_DIR
    saved = TEMPORAL.epochs(folder)
    if not saved:
        raise NpcrError(f"{folder}: no {TEMPORAL.model('<epoch>')}; train it first with "
                        f"tools/refine.py --train --output-dir {output_dir}")
    epoch = saved[-1] if epoch is None else epoch
    if epoch not in saved:
        raise NpcrError(f"{folder}: no refine checkpoint for epoch {epoch}; saved: {saved}")
    cfg = load_config(folder / "config.yml")
    refiner = build_refiner(cfg)
    path = folder / TEMPORAL.model(epoch)
    try:
        Checkpoint.load_objects({TEMPORAL.model_key: refiner}, load_checkpoint(path))
    except RuntimeError as exc:
        raise NpcrError(f"{path}: does not fit REFINE.* of {folder / 'config.yml'} "
                        f"({one_line(exc)})") from None
    return refiner.to(device).eval(), cfg


class CachedRenders:
    """Frames written by ``tools/render.py --depth`` into ``folder``: its cameras (one intrinsics
    block serves all) and, per index, the RGBA frame and layer-0 depth."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.cam_to_world, self.K = read_cameras(folder / "CamPose.inf", folder / "Intrinsic.inf")
        for i in (0, len(self.cam_to_world) - 1):
            if not (folder / f"depth_{i:04d}.npy").is_file():
                raise NpcrError(f"{folder / f'depth_{i:04d}.npy'}: missing; render the path with "
                                f"tools/render.py --depth")

    def depth(self, i: int) -> np.ndarray:
        """The (H, W) float depth of frame ``i``, refusing what render.py --depth did not write."""
        path = self.folder / f"depth_{i:04d}.npy"
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise NpcrError(f"{path}: not a depth map written by tools/render.py --depth "
                            f"({one_line(exc)})") from None
        if depth.ndim != 2 or depth.dtype.kind != "f":
            raise NpcrError(f"{path}: expected a 2-D float depth map, got {depth.dtype} "
                            f"{depth.shape}")
        return depth

    def path(self) -> Cameras:
        return Cameras(self.K, self.cam_to_world, *self.depth(0).shape)

    def load(self, i: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, alpha = read_image_and_alpha(self.folder / f"frame_{i:04d}.png", None)
        rgba = np.concatenate([rgb, alpha[..., None]], 2)
        depth = self.depth(i)
        return (torch.from_numpy(rgba).permute(2, 0, 1)[None].float().to(device) / 255,
                torch.from_numpy(depth)[None, None].float().to(device))


def refine_path(output_dir: str | Path, campose: str | Path | None = None,
                intrinsics: str | Path | None = None, out: str | Path | None = None,
                size: tuple[int, int] | None = None, cache: str | Path | None = None,
                fps: int = 24, frame: int | None = None, epoch: int | str | None = None,
                overwrite: bool = False) -> dict:
    """Render the cameras ``campose`` / ``intrinsics`` (default: the held-out ones; with ``cache``,
    the path of that tools/render.py --depth folder, reusing its frames) and refine them in
    order. Writes ``frame_%04d.png`` (refined RGBA), ``depth_%04d.npy``, ``video.mp4``,
    ``side_by_side.mp4``
    (raw | refined), the cameras, and ``stats.json`` (warping error of raw and refined video,
    seconds, peak memory) to ``out`` by the output rule of ``npcr.outputs`` (``overwrite``:
    --overwrite). Returns the stats."""
    log = setup_logger()
    if out is not None:
        check_output(out, REFINE_TOOL, overwrite)  # before loading anything
    reset_peak_memory(torch.device("cpu"))
    trained = load_trained(output_dir, epoch)
    reset_peak_memory(trained.device)
    frame = pick_frame(trained, frame)
    if cache and (campose or intrinsics or size):
        raise NpcrError("--cache renders the cached folder's own path: drop --cameras, "
                        "--intrinsics and --size")
    cached = CachedRenders(Path(cache)) if cache else None
    refiner, refine_cfg = load_refiner(Path(output_dir), trained.device)
    path = cached.path() if cached else camera_path(trained, frame, campose, intrinsics, size)
    out = Path(out) if out else Path(output_dir) / f"refine_{trained.epoch}"
    with output_folder(out, REFINE_TOOL, overwrite) as stage:
        stats = _refine_into(stage, trained, refiner, refine_cfg, path, frame, cached, fps)
    log.info("refined %d frames to %s: warping error raw %.3g, refined %.3g (%.0f%% lower)",
             stats["frames"], out, stats["warping_error_raw"], stats["warping_error_refined"],
             100 * (1 - stats["warping_error_refined"] / max(stats["warping_error_raw"], 1e-12)))
    return stats


def _refine_into(folder: Path, trained: Trained, refiner: TemporalRefiner, refine_cfg: CfgNode,
                 path: Cameras, frame: int, cached: CachedRenders | None, fps: int) -> dict:
    """``refine_path``'s files, written into ``folder``; returns the stats."""
    write_cam_poses(folder / "CamPose.inf", path.cam_to_world)
    write_intrinsics(folder / "Intrinsic.inf", path.K)
    device, tol = trained.device, refine_cfg.REFINE.DEPTH_TOLERANCE
    cameras = path.to(device)
    stream = StreamingRefiner(refiner, tol)
    raw_flicker, refined_flicker = FlickerMeter(tol), FlickerMeter(tol)
    start = time.perf_counter()

    with open_video(folder / "video.mp4", fps) as video, \
            open_video(folder / "side_by_side.mp4", fps) as side_by_side:
        @torch.no_grad()
        def refine_step(engine: Engine, i: int) -> None:
            camera = cameras[i]
            if cached:
                rgba, depth = cached.load(i, device)
            else:
                o = trained.render([frame], camera)
                rgba, depth = torch.cat([o["rgb"], o["alpha"]], 1), o["depth"][:, :1]
            raw = View(rgba, depth, camera)
            refined = stream(raw)
            raw_flicker.update(raw)
            refined_flicker.update(View(refined, depth, camera))
            raw8, refined8 = to_rgba8(rgba), to_rgba8(refined)
            write_image(folder / f"frame_{i:04d}.png", refined8)
            save_npy(folder / f"depth_{i:04d}.npy", depth[0, 0].float().cpu().numpy())
            video.write(refined8[..., :3])
            side_by_side.write(np.concatenate([raw8[..., :3], refined8[..., :3]], 1))

        engine = Engine(refine_step)
        ProgressBar(persist=True, desc="refine").attach(engine)
        engine.run(range(len(path.cam_to_world)), max_epochs=1)

    stats = {"frames": len(path.cam_to_world), "size": [path.height, path.width],
             "warping_error_raw": raw_flicker.value, "warping_error_refined": refined_flicker.value,
             "seconds": time.perf_counter() - start, "peak_memory_mib": peak_memory_mib(device),
             "cache": str(cached.folder) if cached else None,
             "warping_error_by_frame": {"raw": raw_flicker.errors,
                                        "refined": refined_flicker.errors}}
    write_text(folder / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats


def evaluate_temporal(folder: str | Path, tolerance: float, out: str | Path | None = None,
                      overwrite: bool = False) -> dict:
    """Flicker of a rendered video: the mean warping error between consecutive frames of a folder
    written by tools/render.py --depth or tools/refine.py (``frame_%04d.png``, ``depth_%04d.npy``,
    ``CamPose.inf``, ``Intrinsic.inf``), frames read one at a time; a pixel counts where the depths
    agree within ``tolerance`` (relative, REFINE.DEPTH_TOLERANCE). With ``out``, the report is
    written there as ``temporal.json`` (the output rule of ``npcr.outputs``)."""
    folder = Path(folder)
    cached = CachedRenders(folder)
    if out is not None:
        check_output(out, EVALUATE_TOOL, overwrite)
    meter = FlickerMeter(tolerance)
    cameras = cached.path().to()
    for i in range(len(cameras)):
        rgba, depth = cached.load(i, torch.device("cpu"))
        meter.update(View(rgba, depth, cameras[i]))
    report = {"folder": str(folder), "frames": len(cached.cam_to_world),
              "warping_error": meter.value, "depth_tolerance": tolerance}
    if out is not None:
        with output_folder(out, EVALUATE_TOOL, overwrite) as stage:
            write_text(stage / "temporal.json", json.dumps(report, indent=2) + "\n")
    return report
