"""Held-out evaluation of a trained model: PSNR, SSIM and alpha error per view, a JSON report and a
contact sheet (truth | prediction | error) for people to look at. (The flicker of a rendered video:
npcr.temporal.refine_path.evaluate_temporal.)"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data import CameraImageDataset, item_cameras, measured_cameras
from ..fileio import write_image, write_text
from ..metrics import psnr, ssim
from ..outputs import check_output, output_folder
from .trained import load_trained

EVALUATE_TOOL = "tools/evaluate.py"


@torch.no_grad()
def evaluate_views(output_dir: str | Path, epoch: int | str | None = None,
                   out: str | Path | None = None, overwrite: bool = False) -> dict:
    """Evaluate on the held-out cameras of every trained frame (``measured_cameras``: the first
    training camera if none is held out, as training measures).

    Writes ``metrics.json`` and ``contact_sheet.png`` to ``out`` (default OUTPUT_DIR/eval_<epoch>;
    the output rule of ``npcr.outputs``); returns the report. LPIPS is not computed: its network
    weights are not available offline.
    """
    if out is not None:
        check_output(out, EVALUATE_TOOL, overwrite)  # before loading anything
    t = load_trained(output_dir, epoch)
    cams = measured_cameras(t.data.scene.num_cameras, list(t.cfg.DATASETS.VAL_CAMERAS),
                            list(t.cfg.DATASETS.SELECT_CAMERAS))
    if out is None:
        out = Path(output_dir) / f"eval_{t.epoch}"
        check_output(out, EVALUATE_TOOL, overwrite)  # the default, once its epoch is known
    views, rows = [], []
    for frame in t.data.frames:
        dataset = CameraImageDataset(t.data.scene, cams, frame, tuple(t.cfg.INPUT.SIZE))
        for item in dataset:
            o = t.model(t.clouds, [frame], item_cameras(item).to(t.device))
            pred, truth, valid = o["rgb"].clamp(0, 1).cpu(), item["image"][None], item["valid"][None]
            # over the pixels the photo covers (an undistorted photo may lack its corners)
            views.append({"frame": frame, "camera": item["camera_id"],
                          "psnr": psnr(pred, truth, valid), "ssim": ssim(pred, truth, valid),
                          "alpha_mae": float((o["alpha"].cpu() - item["alpha"]).abs().mean())})
            truth = torch.where(valid > 0, truth, pred)  # no source: shown as no error
            error = (pred - truth).abs().mul(4).clamp(0, 1)
            rows.append(torch.cat([truth, pred, error], dim=3)[0])
    report = {"epoch": t.epoch, "views": views, "lpips": None,
              **{f"mean_{k}": float(np.mean([v[k] for v in views]))
                 for k in ("psnr", "ssim", "alpha_mae")}}
    sheet = torch.cat(rows, dim=1).permute(1, 2, 0).numpy()
    with output_folder(out, EVALUATE_TOOL, overwrite) as stage:
        write_text(stage / "metrics.json", json.dumps(report, indent=2) + "\n")
        write_image(stage / "contact_sheet.png", (sheet * 255).round().astype(np.uint8))
    return report
