#!/usr/bin/env python3
"""Training and rendering cost at NPCR-like settings, on the CPU or a GPU.

NPCR trains on 512x512 crops with 32 feature channels and 4 depth layers (13 GB on a V100) and
renders a 1024x1024 frame in about 250 ms. This measures npcr's real training step (the ignite
engine of tools/train.py) on a synthetic 1M-point cloud at those settings, for fp32 eager, autocast
(bf16 on the CPU, fp16 on CUDA) and torch.compile, each in its own process so peak memory is its
own; then full-frame render time at 1024x1024. Writes ``benchmarks/results/cost_<device>.md``.

    python benchmarks/bench_cost.py [--device cpu|cuda] [--points 1000000] [--steps 8]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import numpy as np
import torch
from ignite.engine import Events

from npcr.cli import results_folder
from npcr.config import load_config
from npcr.engine.monitor import peak_memory_mib, reset_peak_memory
from npcr.engine.optim import build_optimizer, maybe_compile
from npcr.engine.trainer import amp_dtype, create_trainer
from npcr.geometry import Cameras, look_at
from npcr.modeling import FrameClouds, GraphedRenderer, build_model

SETTINGS = ["MODEL.FEATURE_DIM", "32", "MODEL.NUM_LAYERS", "4", "MODEL.MAX_SPLAT", "2",
            "MODEL.UNET_CHANNELS", "[32, 64, 128, 256]"]
VARIANTS = {"fp32 eager": [], "autocast": ["SOLVER.AMP", "{amp}"],
            "fp32 torch.compile": ["SOLVER.COMPILE", "default"]}


def synthetic_views(n: int, size: int, device: torch.device) -> Cameras:
    """``n`` cameras (45 degrees, ``size`` square) on a ring 3 units around the origin."""
    c2w = [look_at([3 * math.cos(a), 0.3, 3 * math.sin(a)], [0, 0, 0], [0, -1, 0])
           for a in torch.linspace(0, 6.28, n).tolist()]
    return Cameras.from_fov(np.stack(c2w), size, size, 45.0).to(device)


def cloud(points: int, device: torch.device) -> FrameClouds:
    g = torch.Generator().manual_seed(0)
    p = torch.randn(points, 3, generator=g)
    p = p / p.norm(dim=1, keepdim=True) * (0.5 + 0.2 * torch.rand(points, 1, generator=g))
    return FrameClouds({0: p}).to(device)


def measure_training(variant: str, device: torch.device, points: int, crop: int,
                     steps: int) -> dict:
    reset_peak_memory(device)
    amp = "fp16" if device.type == "cuda" else "bf16"
    opts = [o.format(amp=amp) for o in VARIANTS[variant]]
    cfg = load_config(None, SETTINGS + ["MODEL.NEAR", "1.0", "MODEL.FAR", "5.0", *opts])
    clouds = cloud(points, device)
    model = build_model(cfg, points).to(device)
    maybe_compile(cfg, model)
    optimizer = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype(cfg, device) is torch.float16)
    trainer = create_trainer(cfg, model, optimizer, clouds, device, scaler)
    cameras = synthetic_views(steps + 3, crop, torch.device("cpu"))
    batches = [{"image": torch.rand(1, 3, crop, crop), "alpha": torch.rand(1, 1, crop, crop),
                "K": cameras.K[i:i + 1], "cam_to_world": cameras.cam_to_world[i:i + 1],
                "frame": torch.tensor([0])} for i in range(steps + 3)]
    clock = {}

    @trainer.on(Events.ITERATION_COMPLETED(once=3))  # after warm-up (and compilation)
    def start(_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        clock["t"] = time.perf_counter()

    trainer.run(batches, max_epochs=1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - clock["t"]
    return {"variant": variant, "it_per_s": steps / seconds, "peak_mib": peak_memory_mib(device)}


def frame_ms(cfg, device: torch.device, points: int, size: int, frames: int,
             amp: torch.dtype | None = None, warmup: int = 2) -> float:
    """Median milliseconds per full frame (projection, gather, U-Net) at ``size``² of the model
    ``cfg`` describes (untrained) on a synthetic cloud, eval mode, under autocast to ``amp`` when
    given, after ``warmup`` frames."""
    return frames_ms([cfg], device, points, size, frames, amp, warmup)[0]


@torch.no_grad()
def frames_ms(cfgs: list, device: torch.device, points: int, size: int, frames: int,
              amp: torch.dtype | None = None, warmup: int = 2,
              graphed: bool = False) -> list[float]:
    """``frame_ms`` of several models, each timed in two blocks of half the frames in the order
    A B ... B A (each block after its own warm-up), so that a machine's drift over the run weighs on
    all alike: their ratios hold. (Frames taken in turn instead would make each model evict the
    other's caches, which a real render never does.) ``graphed``: through ``GraphedRenderer``, as
    tools/render.py renders (CUDA graphs on a GPU; the warm-up's second frame captures)."""
    clouds = cloud(points, device)
    models = [build_model(cfg, points).to(device).eval() for cfg in cfgs]
    renders = [GraphedRenderer(m, clouds) if graphed else partial(m, clouds) for m in models]
    half = -(-frames // 2)
    cameras = synthetic_views(half + warmup, size, device)
    times: list[list[float]] = [[] for _ in models]
    order = list(range(len(models)))
    for m in order + order[::-1]:
        for i in range(half + warmup):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                renders[m]([0], cameras[i])["rgb"].sum().item()
            if i >= warmup:
                times[m].append(time.perf_counter() - t)
    return [1000 * sorted(kept)[len(kept) // 2] for kept in times]


def measure_render(device: torch.device, points: int, size: int, frames: int,
                   amp: torch.dtype | None = None) -> float:
    """``frame_ms`` at NPCR-like settings."""
    cfg = load_config(None, SETTINGS + ["MODEL.NEAR", "1.0", "MODEL.FAR", "5.0"])
    return frame_ms(cfg, device, points, size, frames, amp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--render-size", type=int, default=1024)
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated training variants among: {', '.join(VARIANTS)}")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one measurement, in a subprocess
    args = parser.parse_args()
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown --variants {sorted(unknown)}; choose among {list(VARIANTS)}")
    device = torch.device(args.device)
    if args.variant:
        print(json.dumps(measure_training(args.variant, device, args.points, args.crop,
                                          args.steps)))
        return
    rows = []
    for variant in args.variants.split(","):
        proc = subprocess.run([sys.executable, __file__, "--variant", variant, "--device",
                               args.device, "--points", str(args.points), "--crop",
                               str(args.crop), "--steps", str(args.steps)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    amp = "fp16" if device.type == "cuda" else "bf16"
    render_ms = {"fp32": measure_render(device, args.points, args.render_size, frames=5),
                 f"autocast {amp}": measure_render(device, args.points, args.render_size, frames=5,
                                                   amp=getattr(torch, {"fp16": "float16",
                                                                       "bf16": "bfloat16"}[amp]))}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    lines = [f"# Cost at NPCR-like settings on {args.device}\n",
             f"Machine: {name}. {args.points:,} points, crop {args.crop}x{args.crop}, feature dim "
             f"32, L = 4, U-Net [32, 64, 128, 256], batch 1; {args.steps} timed steps after 3 "
             "warm-up steps; peak = CUDA max allocated or process peak RSS.\n",
             "| training variant | it/s | peak memory (MiB) |", "|---|---|---|"]
    lines += [f"| {r['variant'].replace('autocast', f'autocast {amp}')} | {r['it_per_s']:.2f} | "
              f"{r['peak_mib']:.0f} |" for r in rows]
    lines += ["", f"Full-frame render at {args.render_size}x{args.render_size} (projection, gather, "
                  "U-Net; median of 5): " + ", ".join(f"{k} **{v:.1f} ms**" for k, v in
                                                      render_ms.items()),
              "(NPCR: ~250 ms on a V100; target < 25 ms on a GPU).",
              "NPCR's peak training memory: 13 GB on a V100 (target <= 4 GB)."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"cost_{device.type}.md").write_text("\n".join(lines) + "\n")
    (out / f"cost_{device.type}.json").write_text(json.dumps(
        {"machine": name, "points": args.points, "crop": args.crop, "training": rows,
         "render_size": args.render_size, "render_ms": render_ms}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
