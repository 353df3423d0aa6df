#!/usr/bin/env python3
"""Render time and memory against point count, depth layers and resolution, and where the time
goes (projection / feature gather / network).

Each configuration renders full frames of an untrained model (the network's cost does not depend
on its weights) of a synthetic cloud on a sphere shell, in its own process so its peak memory is
its own. Defaults: 1M points, L = 4, 512x512, feature dim 8, the demo U-Net. Writes
``benchmarks/results/scaling_<device>.md`` and ``scaling_<device>.png``.

    python benchmarks/bench_scaling.py [--device cpu|cuda] [--quick]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import matplotlib
import torch

from npcr.cli import results_folder
from npcr.config import load_config
from npcr.engine.monitor import peak_memory_mib, reset_peak_memory
from npcr.geometry import Cameras, look_at
from npcr.modeling import FrameClouds, build_model

sys.path.insert(0, str(Path(__file__).parent))
from bench_projection import machine  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASE = {"points": 1_000_000, "layers": 4, "size": 512}
SWEEPS = {"points": [10_000, 100_000, 1_000_000, 5_000_000, 20_000_000, 50_000_000, 100_000_000],
          "layers": [1, 2, 4, 8, 16],
          "size": [128, 256, 512, 1024, 2048]}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(points: int, layers: int, size: int, device: torch.device, repeats: int) -> dict:
    """Median seconds of a full render and of its three stages, and the peak memory."""
    reset_peak_memory(device)
    cfg = load_config(None, ["MODEL.NUM_LAYERS", str(layers), "MODEL.MAX_SPLAT", "2",
                             "MODEL.NEAR", "1.0", "MODEL.FAR", "5.0"])
    model = build_model(cfg, points).to(device).eval()
    g = torch.Generator().manual_seed(0)
    p = torch.randn(points, 3, generator=g)
    p = p / p.norm(dim=1, keepdim=True) * (0.5 + 0.2 * torch.rand(points, 1, generator=g))
    clouds = FrameClouds({0: p}).to(device)
    cameras = Cameras.from_fov(look_at([0.0, -3.0, 0.5], [0, 0, 0], [0, 0, 1])[None], size, size,
                               45.0).to(device)
    stages = {"projection": [], "gather": [], "network": [], "total": []}
    with torch.no_grad():
        for _ in range(repeats + 1):
            sync(device)
            t0 = time.perf_counter()
            depth, index = model.depth_layers(clouds.points[0], cameras)
            sync(device)
            t1 = time.perf_counter()
            feats = model.gather(index, None)  # as renders gather (pixel-major on the CPU)
            sync(device)
            t2 = time.perf_counter()
            model.unet(feats).sigmoid().sum().item()
            t3 = time.perf_counter()
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                stages[name].append(dt)
    median = {k: sorted(v[1:])[len(v[1:]) // 2] for k, v in stages.items()}
    return {"points": points, "layers": layers, "size": size, **median,
            "peak_mib": peak_memory_mib(device)}


def run_one(args: argparse.Namespace, **config) -> dict | None:
    """One configuration in its own process; None when it ran out of memory."""
    cmd = [sys.executable, __file__, "--device", args.device, "--repeats", str(args.repeats),
           "--one", json.dumps(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "OutOfMemoryError" in proc.stderr or "out of memory" in proc.stderr:
            print(f"{config}: out of memory, sweep stops", flush=True)
            return None
        sys.exit(f"{config} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the two smallest of each sweep")
    parser.add_argument("--base-points", type=int, default=BASE["points"],
                        help="points of the layer and size sweeps")
    parser.add_argument("--base-size", type=int, default=BASE["size"],
                        help="image side of the point and layer sweeps")
    parser.add_argument("--max-points", type=int, default=20_000_000,
                        help="largest cloud of the point sweep (100000000 on a big GPU)")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--plot-only", action="store_true",
                        help="redo the table and plot from the saved scaling_<device>.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one configuration, in a subprocess
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.one:
        print(json.dumps(measure(**json.loads(args.one), device=device, repeats=args.repeats)))
        return
    base = {**BASE, "points": args.base_points, "size": args.base_size}
    out = Path(args.out)
    raw = out / f"scaling_{device.type}.json"
    if args.plot_only:
        results = json.loads(raw.read_text())
    else:
        results = {}
        for var, values in SWEEPS.items():
            results[var] = []
            if var == "points":
                values = [v for v in values if v <= args.max_points]
            for v in values[:2] if args.quick else values:
                row = run_one(args, **{**base, var: v})
                if row is None:
                    break
                results[var].append(row)
                print(json.dumps(row), flush=True)
                out.mkdir(parents=True, exist_ok=True)
                raw.write_text(json.dumps(results, indent=1) + "\n")  # kept if stopped early
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    at_base = next((r for r in results["points"] if r["points"] == base["points"]),
                   results["points"][-1])
    shares = {k: 100 * at_base[k] / at_base["total"] for k in ("projection", "gather", "network")}
    lines = [f"# Render scaling on {args.device}\n",
             f"Machine: {name}. Untrained model (feature dim 8, U-Net [16, 32, 64, 128]), full "
             f"frames, median of {args.repeats}; base {base['points']:,} points, L = "
             f"{base['layers']}, {base['size']}x{base['size']}; peak = process "
             "RSS (CPU) or CUDA max allocated.\n",
             f"Where the time goes at the base setting: projection {shares['projection']:.0f}%, "
             f"feature gather {shares['gather']:.0f}%, network {shares['network']:.0f}% "
             f"({1000 * at_base['total']:.1f} ms a frame at {at_base['points']:,} points).\n"]
    for var, rows in results.items():
        lines += [f"\n## {var}\n", f"| {var} | total ms | projection ms | gather ms | "
                  "network ms | peak MiB |", "|---|---|---|---|---|---|"]
        lines += [f"| {r[var]:,} | {1000 * r['total']:.1f} | {1000 * r['projection']:.1f} | "
                  f"{1000 * r['gather']:.1f} | {1000 * r['network']:.1f} | {r['peak_mib']:.0f} |"
                  for r in rows]
    (out / f"scaling_{device.type}.md").write_text("\n".join(lines) + "\n")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for col, (var, rows) in enumerate(results.items()):
        x = [r[var] for r in rows]
        for stage in ("total", "projection", "gather", "network"):
            axes[0, col].loglog(x, [1000 * r[stage] for r in rows], marker="o", label=stage)
        axes[1, col].semilogx(x, [r["peak_mib"] for r in rows], marker="o")
        axes[0, col].set_title(f"render time vs {var}")
        axes[0, col].set_ylabel("ms")
        axes[1, col].set_xlabel(var if var != "size" else "image side (pixels)")
        axes[1, col].set_ylabel("peak MiB")
        axes[0, col].legend(fontsize=8)
        labels = [f"{v / 1e6:g}M" if var == "points" else str(v) for v in x]
        for ax in axes[:, col]:
            ax.set_xscale("log", base=10 if var == "points" else 2)
            ax.set_xticks(x, labels)
            ax.minorticks_off()
    fig.suptitle(f"npcr render scaling ({name})")
    fig.tight_layout()
    fig.savefig(out / f"scaling_{device.type}.png", dpi=90)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
