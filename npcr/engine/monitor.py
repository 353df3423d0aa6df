"""What training shows while it runs: TensorBoard scalars and image grids, speed and memory."""
from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import TensorboardLogger

from ..data import item_cameras
from ..fileio import write_image
from ..modeling import FrameClouds, PointRenderer


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA) or the process's peak resident memory (CPU; Linux's VmHWM,
    which ``reset_peak_memory`` can reset), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory(device: torch.device) -> None:
    """Start measuring the peak from now. On the CPU this matters for a process started from a
    big one: Linux carries the parent's peak resident memory over fork and exec."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def shade_depth(depth: torch.Tensor) -> torch.Tensor:
    """(H, W) in [0, 1] for a depth map: nearest bright (1), farthest 0.2, empty 0."""
    valid = depth > 0
    shade = torch.zeros_like(depth)
    if valid.any():
        lo, hi = depth[valid].min(), depth[valid].max()
        shade[valid] = 1 - 0.8 * (depth[valid] - lo) / (hi - lo + 1e-8)
    return shade


@torch.no_grad()
def preview_grid(model: PointRenderer, clouds: FrameClouds, item: dict,
                 device: torch.device) -> np.ndarray:
    """(H, 4W, 3) uint8: prediction | ground truth | predicted alpha | layer-0 depth (near: bright)."""
    was_training = model.training
    model.eval()
    out = model(clouds, [item["frame"]], item_cameras(item).to(device))
    model.train(was_training)
    shade = shade_depth(out["depth"][0, 0])
    panels = [out["rgb"][0].cpu(), item["image"], out["alpha"][0].cpu().expand(3, -1, -1),
              shade.cpu()[None].expand(3, -1, -1)]
    grid = torch.cat(panels, dim=2).clamp(0, 1)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def attach_monitoring(trainer: Engine, evaluator: Engine, optimizer: torch.optim.Optimizer,
                      model: PointRenderer, clouds: FrameClouds, preview_item: dict,
                      out_dir: Path, image_period: int, device: torch.device,
                      logger) -> TensorboardLogger:
    """TensorBoard: losses every iteration, learning rates, held-out PSNR/SSIM each evaluation,
    iterations/s and peak memory each epoch, and every ``image_period`` iterations a preview grid
    (also written to ``out_dir/previews/iter_%07d.png``)."""
    tb = TensorboardLogger(log_dir=str(out_dir / "tb"))
    tb.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train",
                             output_transform=lambda o: o)
    tb.attach_opt_params_handler(trainer, Events.ITERATION_STARTED, optimizer, param_name="lr")
    tb.attach_output_handler(evaluator, Events.COMPLETED, tag="val", metric_names=["psnr", "ssim"],
                             global_step_transform=lambda *_: trainer.state.epoch)
    started = {}

    @trainer.on(Events.EPOCH_STARTED)
    def start_clock(engine: Engine) -> None:
        started["time"], started["iteration"] = time.perf_counter(), engine.state.iteration

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_speed(engine: Engine) -> None:
        seconds = time.perf_counter() - started["time"]
        its = (engine.state.iteration - started["iteration"]) / seconds
        mem = peak_memory_mib(device)
        tb.writer.add_scalar("speed/iterations_per_s", its, engine.state.epoch)
        tb.writer.add_scalar("speed/peak_memory_mib", mem, engine.state.epoch)
        logger.info("epoch %d: %.2f it/s, peak memory %.0f MiB", engine.state.epoch, its, mem)

    @trainer.on(Events.ITERATION_COMPLETED(every=max(1, image_period)) | Events.COMPLETED)
    def log_preview(engine: Engine) -> None:
        grid = preview_grid(model, clouds, preview_item, device)
        tb.writer.add_image("preview/pred_gt_alpha_depth", grid, engine.state.iteration,
                            dataformats="HWC")
        write_image(out_dir / "previews" / f"iter_{engine.state.iteration:07d}.png", grid)

    return tb
