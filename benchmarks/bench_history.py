#!/usr/bin/env python3
"""Today's demo against the demo of an earlier revision of this repository (default: the code
just before issue 16), each run by its own code: render time and training (time, held-out PSNR).

bench_render_cost.py and bench_quality.py compare settings with one (today's) code; this answers
"what does the demo cost and give now against then": REV is checked out into a temporary git
worktree and its projector built there. Render: each tree renders its own configs/demo.yml
(untrained weights, the synthetic clouds and cameras of benchmarks/bench_cost.py, full frames) in
a process of its own, in blocks ordered then, now, now, then (a machine's drift weighs on both
alike); medians of --frames after 3 warm-ups. Training: each tree makes its demo scene
(tools/make_demo_scene.py --seed 0) and trains its configs/demo.yml with tools/train.py, in the
order then, now, now, then (--train-runs 0 skips it). CPU only (a GPU run would compile REV's CUDA
kernel). Writes benchmarks/results/history_cpu.md and .json.

    python benchmarks/bench_history.py [--rev 29b3712^] [--frames 16] [--points 60000 1000000]
                                       [--sizes 512] [--train-runs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from npcr.cli import results_folder

sys.path.insert(0, str(Path(__file__).parent))
from bench_projection import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEFORE_ISSUE_16 = "29b3712^"

# Run in a tree's root: times frames of that tree's demo model with that tree's code. Uses only
# what both the old and today's code have (bench_cost's cloud and cameras, build_model).
TIMER = r"""
import json, sys, time
sys.path.insert(0, "benchmarks")
import npcr, pcpr_ext
import torch
from bench_cost import cloud, synthetic_views
from npcr.config import load_config
from npcr.modeling import build_model
points, size, frames, warmup, threads = (int(a) for a in sys.argv[1:6])
torch.set_num_threads(threads)
cfg = load_config("configs/demo.yml", ["MODEL.NEAR", "1.0", "MODEL.FAR", "5.0"])
model = build_model(cfg, points).eval()
clouds = cloud(points, torch.device("cpu"))
views = synthetic_views(frames + warmup, size, torch.device("cpu"))
if isinstance(views, tuple):  # an earlier renderer: loose K and cam_to_world
    K, c2w = views
    render = lambda i: model(clouds, [0], K[i:i + 1], c2w[i:i + 1], size, size)
else:  # today's: the camera type
    render = lambda i: model(clouds, [0], views[i])
times = []
with torch.no_grad():
    for i in range(frames + warmup):
        t = time.perf_counter()
        render(i)["rgb"].sum().item()
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - t))
print(json.dumps({"npcr": npcr.__file__, "pcpr_ext": pcpr_ext.__file__,
                  "backends": pcpr_ext.backends(), "ms": times}))
"""


def frame_times(tree: Path, points: int, size: int, frames: int, threads: int) -> list[float]:
    """Frame times (ms) of ``tree``'s demo model, rendered by ``tree``'s own code."""
    out = subprocess.run([sys.executable, "-c", TIMER, str(points), str(size), str(frames), "3",
                          str(threads)], cwd=tree, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["npcr"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"{tree} rendered with npcr from {result['npcr']}")
    if "cpu" not in result["backends"]:
        raise RuntimeError(f"{tree}: the native projector is missing ({result['backends']})")
    return result["ms"]


def train_demo(tree: Path, data: Path, out: Path) -> dict:
    """Train ``tree``'s configs/demo.yml on ``data`` with its own tools/train.py: the figures of its
    metrics.json that both old and new code write."""
    subprocess.run([sys.executable, "tools/train.py", "--overwrite", "--config", "configs/demo.yml",
                    "DATASETS.ROOT", str(data), "OUTPUT_DIR", str(out)], cwd=tree, check=True,
                   capture_output=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {key: metrics[key] for key in ("train_seconds", "heldout_psnr",
                                          "point_colour_splat_psnr")}


def checkout(rev: str, where: Path) -> Path:
    """A worktree of ``rev`` under ``where`` with its projector built in place."""
    tree = where / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    print(f"building the projector of {rev} ...", flush=True)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                   check=True, capture_output=True, env={**os.environ, "FORCE_CUDA": "0"})
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default=BEFORE_ISSUE_16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--points", type=int, nargs="+", default=[60_000, 1_000_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512])
    parser.add_argument("--train-runs", type=int, default=2,
                        help="training runs of each tree (0: render time only)")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    args = parser.parse_args()
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    now = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    threads, half = torch.get_num_threads(), -(-args.frames // 2)
    rows, runs = [], {"then": [], "now": []}
    with tempfile.TemporaryDirectory(prefix="npcr_history_") as tmp:
        trees = {"then": checkout(args.rev, Path(tmp)), "now": ROOT}
        order = ["then", "now", "now", "then"]
        try:
            for points in args.points:
                for size in args.sizes:
                    times = {"then": [], "now": []}
                    for name in order:
                        times[name] += frame_times(trees[name], points, size, half, threads)
                    row = {"points": points, "size": size,
                           "then_ms": statistics.median(times["then"]),
                           "now_ms": statistics.median(times["now"])}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            for name, tree in trees.items():
                subprocess.run([sys.executable, "tools/make_demo_scene.py", "--out",
                                f"{tmp}/data_{name}", "--seed", "0"], cwd=tree, check=True,
                               capture_output=True)
            for k in range(args.train_runs):
                for name in order[:2] if k % 2 == 0 else order[2:]:
                    runs[name].append(train_demo(trees[name], Path(f"{tmp}/data_{name}"),
                                                 Path(f"{tmp}/run_{name}_{k}")))
                    print(name, json.dumps(runs[name][-1]), flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(trees["then"])], check=False, capture_output=True)
    lines = [f"# The demo now against {rev} ({args.rev}) on the CPU\n",
             f"Machine: {machine()}. `benchmarks/bench_history.py`: each tree runs its own "
             f"configs/demo.yml with its own code (then: {rev}; now: {now}, with any uncommitted "
             "changes), each run in a process of its own, in the order then, now, now, then.\n",
             f"Render: untrained weights, synthetic clouds, full frames, median of {args.frames}.\n",
             "| points | size | then ms | now ms | now / then |", "|---|---|---|---|---|"]
    lines += [f"| {r['points']:,} | {r['size']}² | {r['then_ms']:.2f} | {r['now_ms']:.2f} | "
              f"{r['now_ms'] / r['then_ms']:.2f} |" for r in rows]
    if args.train_runs:
        lines += ["", "Training (tools/train.py on the tree's own demo scene, seed 0), each run:\n",
                  "| code | train s | held-out PSNR | point-colour splat | margin |",
                  "|---|---|---|---|---|"]
        lines += [f"| {name} | {r['train_seconds']:.1f} | {r['heldout_psnr']:.2f} | "
                  f"{r['point_colour_splat_psnr']:.2f} | "
                  f"{r['heldout_psnr'] - r['point_colour_splat_psnr']:+.2f} |"
                  for name in ("then", "now") for r in runs[name]]
        mean = {name: statistics.mean(r["train_seconds"] for r in runs[name]) for name in runs}
        lines.append(f"\nTraining time now / then: {mean['now'] / mean['then']:.2f} (means).")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "history_cpu.md").write_text("\n".join(lines) + "\n")
    (out / "history_cpu.json").write_text(json.dumps(
        {"machine": machine(), "then": rev, "now": now, "frames": args.frames, "render": rows,
         "training": runs}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
