#!/usr/bin/env python3
"""Render speed of a trained model along a camera path, at several image sizes, fp32 vs autocast.

Loads OUTPUT_DIR like tools/render.py, renders the path's cameras (default: the held-out ones) at
each ``--sizes`` side (intrinsics scaled), and times full frames as tools/render.py makes them
(projection, gather, U-Net, from CUDA graphs on a GPU; no file writing) with and without autocast
(float16 on CUDA, bfloat16 on the CPU). Also reports the
PSNR of the autocast frames against the fp32 ones, so a speed-up that changes the picture shows.
Prints one JSON object and writes it to ``--json`` when given.

    python benchmarks/bench_render.py --output-dir output/demo \\
        --cameras output/demo/turntable_cameras/CamPose.inf \\
        --intrinsics output/demo/turntable_cameras/Intrinsic.inf --sizes 128 1024
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import torch

from npcr.engine.render import camera_path
from npcr.engine.trained import load_trained
from npcr.metrics import psnr_from_mse


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_path(trained, path, amp: torch.dtype | None, max_frames: int) -> tuple[float, list]:
    """Median ms per frame over the path's first ``max_frames`` cameras (after two warm-up frames:
    the second captures the graph), and the RGB frames on the CPU."""
    device, frame = trained.device, trained.data.frames[0]
    cameras = path.to(device)
    count = min(max_frames, len(cameras))
    times, images = [], []
    for i in [0, 0] + list(range(count)):
        sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            rgb = trained.render([frame], cameras[i])["rgb"]
        sync(device)
        times.append(time.perf_counter() - start)
        images.append(rgb.float().cpu())
    return 1e3 * statistics.median(times[2:]), images[2:]


def psnr(a: list, b: list) -> float:
    mse = statistics.fmean(float(((x - y) ** 2).mean()) for x, y in zip(a, b))
    return psnr_from_mse(mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR")
    parser.add_argument("--cameras", help="CamPose.inf of the path (default: held-out cameras)")
    parser.add_argument("--intrinsics", help="Intrinsic.inf for --cameras")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--max-frames", type=int, default=24, help="frames timed per setting")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    trained = load_trained(args.output_dir)
    device = trained.device
    amp_name, amp = ("fp16", torch.float16) if device.type == "cuda" else ("bf16", torch.bfloat16)
    rows = []
    for size in args.sizes:
        path = camera_path(trained, trained.data.frames[0], args.cameras, args.intrinsics,
                           (size, size))
        fp32_ms, fp32_images = time_path(trained, path, None, args.max_frames)
        amp_ms, amp_images = time_path(trained, path, amp, args.max_frames)
        rows.append({"size": size, "frames": len(fp32_images), "fp32_ms": fp32_ms,
                     f"{amp_name}_ms": amp_ms, "autocast_vs_fp32_psnr": psnr(amp_images,
                                                                               fp32_images)})
        print(f"{size}x{size}: fp32 {fp32_ms:.2f} ms, autocast {amp_name} {amp_ms:.2f} ms per "
              f"frame; autocast vs fp32 {rows[-1]['autocast_vs_fp32_psnr']:.1f} dB", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    result = {"device": name, "epoch": trained.epoch, "points": trained.data.clouds.total,
              "autocast": amp_name, "rows": rows}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
