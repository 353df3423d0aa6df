#!/usr/bin/env python3
"""Render time of the demo model's settings before issue 16 (one point level, no supersampling, a
3x3 first convolution) and now (configs/demo.yml: supersample 2, 4 point levels, 1x1), side by
side in one process, the model called directly and, on a GPU, through CUDA graphs
(``GraphedRenderer``, as tools/render.py renders).

Untrained weights (the time does not depend on them), synthetic clouds (default 60k and 1M
points), full frames (default 512² and 1024²: projection, gather, U-Net), median of --frames after
3 warm-ups, the two models timed in blocks in the order before, now, now, before (a machine's
drift weighs on both alike). Writes benchmarks/results/render_cost_<device>.md and .json. Needs no
open3d (runs on the bare GPU machine).

    python benchmarks/bench_render_cost.py [--device cuda] [--frames 20] [--points 60000 1000000]
                                           [--sizes 512 1024] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import torch

from npcr.cli import results_folder
from npcr.config import load_config

sys.path.insert(0, str(Path(__file__).parent))
from bench_cost import frames_ms  # noqa: E402
from bench_projection import machine  # noqa: E402

# configs/demo.yml before issue 16 (one point level, no supersampling, a 3x3 first convolution)
BEFORE = ["MODEL.SUPERSAMPLE", "1", "MODEL.POINT_LEVELS", "1", "MODEL.UNET_INPUT_KERNEL", "3"]
DEPTHS = ["MODEL.NEAR", "1.0", "MODEL.FAR", "5.0"]  # the synthetic clouds' depth range


def table(rows: list[dict], device: str, machine_name: str, frames: int,
          graphed: bool) -> list[str]:
    """The markdown lines of render_cost_<device>.md."""
    lines = [f"# Render cost of the demo settings before and after issue 16 on {device}\n",
             f"Machine: {machine_name}. `benchmarks/bench_render_cost.py`: configs/demo.yml (F 8, "
             "L 2, U-Net [16..128]) with untrained weights, synthetic clouds, full frames, median "
             f"of {frames} in blocks ordered before, now, now, before; both with this code. "
             "Before: MODEL.SUPERSAMPLE 1, MODEL.POINT_LEVELS 1, MODEL.UNET_INPUT_KERNEL 3; "
             "now: 2, 4 and 1."
             + (" Direct: the model called frame by frame; graphed: through `GraphedRenderer` as "
                "tools/render.py renders (CUDA graphs)." if graphed else "") + "\n",
             "| points | size | before ms | now ms | now / before |"
             + (" graphed before ms | now ms | now / before |" if graphed else ""),
             "|---|---|---|---|---|" + ("---|---|---|" if graphed else "")]
    for r in rows:
        line = (f"| {r['points']:,} | {r['size']}² | {r['before_ms']:.2f} | {r['now_ms']:.2f} | "
                f"{r['now_ms'] / r['before_ms']:.2f} |")
        if graphed:
            line += (f" {r['before_graphed_ms']:.2f} | {r['now_graphed_ms']:.2f} | "
                     f"{r['now_graphed_ms'] / r['before_graphed_ms']:.2f} |")
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--points", type=int, nargs="+", default=[60_000, 1_000_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for points in args.points:
        for size in args.sizes:
            cfgs = [load_config("configs/demo.yml", [*DEPTHS, *opts]) for opts in (BEFORE, [])]
            row = {"points": points, "size": size}
            # through CUDA graphs on a GPU; elsewhere GraphedRenderer is the plain call
            modes = (("", False), ("_graphed", True)) if device.type == "cuda" else (("", False),)
            for suffix, graphed in modes:
                times = frames_ms(cfgs, device, points, size, args.frames, warmup=3,
                                  graphed=graphed)
                row.update({f"before{suffix}_ms": times[0], f"now{suffix}_ms": times[1]})
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    lines = table(rows, device.type, name, args.frames, graphed=device.type == "cuda")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"render_cost_{device.type}.md").write_text("\n".join(lines) + "\n")
    (out / f"render_cost_{device.type}.json").write_text(
        json.dumps({"device": name, "frames": args.frames, "rows": rows}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
