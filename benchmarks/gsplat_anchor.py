#!/usr/bin/env python3
"""The anchor npcr is compared with on real captures: 3D Gaussian Splatting trained with gsplat
(PyPI ``gsplat``, CUDA only) as its own example trainer (``examples/simple_trainer.py``) does at
its documented defaults, on a native npcr scene, for a wall-clock budget.

Defaults kept: initialisation from the given points (one Gaussian a point, scale the mean distance
to the 3 nearest, random rotation, opacity 0.1, colour as the 0th spherical harmonic), spherical
harmonics of degree 3 turned on one degree every 1000 steps, Adam per parameter at the example's
learning rates (positions x scene scale, decaying to 1% over the schedule), loss 0.8 L1 + 0.2
(1 - SSIM), one photo a step, ``rasterization`` in its classic mode, and ``DefaultStrategy``
(densify, prune, reset opacity) at its defaults. What a budget changes: the schedule (30,000
steps, the strategy's steps with it) is scaled, as the example's ``steps_scaler`` does, to the
steps the budget allows at the rate measured in a first calibration run (not counted), and
training stops at the budget if it is not done. Pixels an undistorted photo has no source for are
left out of the loss, as the example does with masks.

    python benchmarks/gsplat_anchor.py --scene SCENE --points POINTS.txt --val 0,6,12 \\
        --budget 60 --out DIR

Writes DIR/gsplat.json (steps, seconds, peak memory, held-out PSNR/SSIM, render ms, model bytes)
and DIR/heldout_<camera>.png.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim

from npcr.cli import results_folder
from npcr.data import CameraImageDataset, read_points, split_cameras
from npcr.data.formats import load_scene_from
from npcr.fileio import write_image
from npcr.metrics import psnr, ssim as masked_ssim

SH_C0 = 0.28209479177387814  # the 0th real spherical harmonic
DEFAULT_STEPS = 30_000  # simple_trainer's max_steps
SH_DEGREE, SH_INTERVAL = 3, 1000
LEARNING_RATES = {"means": 1.6e-4, "scales": 5e-3, "quats": 1e-3, "opacities": 5e-2,
                  "sh0": 2.5e-3, "shN": 2.5e-3 / 20}
SSIM_LAMBDA, INIT_OPACITY = 0.2, 0.1
CALIBRATION_STEPS = 300  # before densification starts (500): the fastest steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gsplat_intrinsics(K: torch.Tensor) -> torch.Tensor:
    """npcr's K (pixel centres at integers) as gsplat takes it (pixel centres at +0.5)."""
    K = K.clone()
    K[..., 0, 2] += 0.5
    K[..., 1, 2] += 0.5
    return K


def nearest_distance(points: torch.Tensor, k: int = 3, chunk: int = 4096) -> torch.Tensor:
    """(N,) root mean squared distance of each point to its ``k`` nearest others."""
    out = []
    for block in torch.split(points, chunk):
        d2 = torch.cdist(block, points).pow(2)
        out.append(d2.topk(k + 1, largest=False).values[:, 1:].mean(1).sqrt())
    return torch.cat(out)


def init_splats(xyz: torch.Tensor, rgb: torch.Tensor, scene_scale: float,
                device: torch.device) -> tuple[torch.nn.ParameterDict, dict]:
    """Gaussians on ``xyz`` coloured ``rgb`` and their optimisers, as the example makes them."""
    n = len(xyz)
    colours = torch.zeros(n, (SH_DEGREE + 1) ** 2, 3)
    colours[:, 0] = (rgb - 0.5) / SH_C0
    dist = nearest_distance(xyz.to(device)).clamp_min(1e-7).cpu()
    splats = torch.nn.ParameterDict({
        "means": torch.nn.Parameter(xyz.clone()),
        "scales": torch.nn.Parameter(dist.log()[:, None].repeat(1, 3)),
        "quats": torch.nn.Parameter(torch.rand(n, 4)),
        "opacities": torch.nn.Parameter(torch.logit(torch.full((n,), INIT_OPACITY))),
        "sh0": torch.nn.Parameter(colours[:, :1]),
        "shN": torch.nn.Parameter(colours[:, 1:]),
    }).to(device)
    optimizers = {name: torch.optim.Adam(
        [{"params": splats[name], "lr": lr * (scene_scale if name == "means" else 1.0),
          "name": name}], eps=1e-15, fused=device.type == "cuda")
        for name, lr in LEARNING_RATES.items()}
    return splats, optimizers


def rasterize(splats, K: torch.Tensor, cam_to_world: torch.Tensor, height: int, width: int,
              sh_degree: int):
    from gsplat import rasterization

    return rasterization(
        means=splats["means"], quats=splats["quats"], scales=torch.exp(splats["scales"]),
        opacities=torch.sigmoid(splats["opacities"]),
        colors=torch.cat([splats["sh0"], splats["shN"]], 1),
        viewmats=torch.linalg.inv(cam_to_world), Ks=gsplat_intrinsics(K), width=width,
        height=height, packed=False, sh_degree=sh_degree, near_plane=0.01, far_plane=1e10,
        rasterize_mode="classic")


def train(views: list[dict], xyz: torch.Tensor, rgb: torch.Tensor, scene_scale: float,
          steps: int, budget: float, device: torch.device, stop_after: int | None = None,
          seed: int = 42) -> tuple:
    """Train for the example's schedule scaled to ``steps``, stopping at ``budget`` seconds (or
    after ``stop_after`` steps); returns the splats and the steps done, seconds and peak memory."""
    from gsplat import DefaultStrategy

    torch.manual_seed(seed)
    np.random.seed(seed)
    scale = steps / DEFAULT_STEPS
    splats, optimizers = init_splats(xyz, rgb, scene_scale, device)
    defaults = DefaultStrategy()
    strategy = DefaultStrategy(
        refine_start_iter=int(defaults.refine_start_iter * scale),
        refine_stop_iter=int(defaults.refine_stop_iter * scale),
        reset_every=int(defaults.reset_every * scale),
        refine_every=max(1, int(defaults.refine_every * scale)))
    strategy.check_sanity(splats, optimizers)
    state = strategy.initialize_state(scene_scale=scene_scale)
    decay = torch.optim.lr_scheduler.ExponentialLR(optimizers["means"], gamma=0.01 ** (1 / steps))
    interval = max(1, int(SH_INTERVAL * scale))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start, step = time.perf_counter(), 0
    order: list[int] = []
    last = steps if stop_after is None else min(steps, stop_after)
    while step < last and time.perf_counter() - start < budget:
        if not order:
            order = torch.randperm(len(views)).tolist()
        view = views[order.pop()]
        truth, valid = view["image"], view["valid"]  # (1, 3, H, W), (1, 1, H, W) on device
        height, width = truth.shape[-2:]
        render, _, info = rasterize(splats, view["K"], view["cam_to_world"], height, width,
                                    min(step // interval, SH_DEGREE))
        pred = render.permute(0, 3, 1, 2)
        strategy.step_pre_backward(splats, optimizers, state, step, info)
        mask = valid.expand_as(pred) > 0
        l1 = F.l1_loss(pred[mask], truth[mask])
        ssim_loss = 1 - ssim(pred * valid, truth * valid, data_range=1.0, size_average=True)
        loss = torch.lerp(l1, ssim_loss, SSIM_LAMBDA)
        loss.backward()
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        decay.step()
        strategy.step_post_backward(splats, optimizers, state, step, info, packed=False)
        step += 1
    sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return splats, step, seconds, peak


def load_views(scene, cameras: list[int], device: torch.device) -> list[dict]:
    out = []
    for item in CameraImageDataset(scene, cameras, 0):
        out.append({"image": item["image"][None].to(device), "valid": item["valid"][None].to(device),
                    "K": item["K"][None].float().to(device),
                    "cam_to_world": item["cam_to_world"][None].float().to(device),
                    "camera": item["camera_id"]})
    return out


@torch.no_grad()
def evaluate(splats, views: list[dict], out: Path, repeats: int = 10) -> dict:
    """Held-out PSNR / SSIM over the valid pixels, median render ms, the renders written."""
    rows, times = [], []
    for view in views:
        height, width = view["image"].shape[-2:]
        device = view["image"].device
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            render, _, _ = rasterize(splats, view["K"], view["cam_to_world"], height, width,
                                     SH_DEGREE)
            sync(device)
            times.append(time.perf_counter() - t0)
        pred = render.permute(0, 3, 1, 2).clamp(0, 1)
        rows.append({"camera": view["camera"], "psnr": psnr(pred, view["image"], view["valid"]),
                     "ssim": masked_ssim(pred, view["image"], view["valid"])})
        image = (pred[0].permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        write_image(out / f"heldout_{view['camera']}.png", image)
    return {"views": rows, "psnr": statistics.fmean(r["psnr"] for r in rows),
            "ssim": statistics.fmean(r["ssim"] for r in rows),
            "render_ms": 1e3 * statistics.median(times)}


def compile_seconds() -> float:
    """Seconds gsplat takes to build (first use) or load its CUDA kernels."""
    start = time.perf_counter()
    from gsplat.cuda._backend import _C  # compiles on first use

    if _C is None:
        raise SystemExit("gsplat found no CUDA toolkit to build its kernels with")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", required=True, help="native scene (cameras and photos)")
    parser.add_argument("--points", required=True, help="points to start from (text, x y z r g b)")
    parser.add_argument("--val", required=True, help="held-out cameras, comma-separated")
    parser.add_argument("--budget", type=float, required=True, help="training seconds")
    parser.add_argument("--out", type=results_folder, required=True)
    args = parser.parse_args()
    device = torch.device("cuda")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    build = compile_seconds()
    scene = load_scene_from(args.scene)
    val = [int(c) for c in args.val.split(",")]
    train_ids, _, _ = split_cameras(scene.num_cameras, val)
    xyz, rgb = read_points(args.points)
    xyz = torch.as_tensor(xyz, dtype=torch.float32)
    rgb = torch.full_like(xyz, 0.5) if rgb is None else torch.as_tensor(rgb, dtype=torch.float32)
    centres = torch.as_tensor(scene.cam_to_world[train_ids][:, :3, 3])
    scene_scale = 1.1 * float((centres - centres.mean(0)).norm(dim=1).max())
    views = load_views(scene, train_ids, device)
    _, done, seconds, _ = train(views, xyz, rgb, scene_scale, DEFAULT_STEPS, math.inf, device,
                                stop_after=CALIBRATION_STEPS)
    rate = done / seconds
    # densification multiplies the Gaussians and slows the steps: about half the first ones' rate
    steps = min(DEFAULT_STEPS, max(CALIBRATION_STEPS, int(0.5 * rate * args.budget)))
    splats, done, seconds, peak = train(views, xyz, rgb, scene_scale, steps, args.budget, device)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in splats.items()}, buffer)
    result = {"compile_seconds": build, "calibration_steps_per_second": rate,
              "scheduled_steps": steps, "steps": done, "train_seconds": seconds,
              "peak_memory_bytes": peak, "gaussians": len(splats["means"]),
              "initial_points": len(xyz), "model_bytes": buffer.getbuffer().nbytes,
              **evaluate(splats, load_views(scene, val, device), out)}
    (out / "gsplat.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "views"}))


if __name__ == "__main__":
    main()
