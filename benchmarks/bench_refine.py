#!/usr/bin/env python3
"""Temporal refinement: flicker, held-out PSNR and memory of tools/refine.py on two fur-ball scenes.

Per scene: train the renderer (L = 4 with a layer schedule; skipped when its checkpoint exists),
train the refine net, refine a 120-frame orbit (exgen) and compare the warping error of the raw
and refined videos; held-out PSNR of raw vs refined frames; peak memory of tools/refine.py for 60-
and 600-frame orbits. Writes ``benchmarks/results/refine.md``, a raw | refined strip and a
per-frame flicker plot per scene.

Flicker is also measured against the truth, which the warping error (what the refine net is
trained to lower) cannot show: the demo generator ray-traces the orbit's ground truth, and the
temporal error is the mean |(x_t - x_{t-1}) - (g_t - g_{t-1})| over frames t and RGB pixels, for
the raw renders x and for the refined ones, beside their PSNR against the truth along the orbit.
A render that is softer than the truth misses part of the truth's change between frames even
when it does not flicker at all, so the table also gives a flicker-free reference as sharp as the
raw render: the truth itself blurred by the Gaussian whose PSNR against the truth equals the raw
render's. The non-learned baseline, the point-colour splat fitted to the training photos, is
measured along the same orbit, and its held-out PSNR (the renderer's metrics.json) stands beside
the raw and refined ones.

    python benchmarks/bench_refine.py [--refine-epochs 10] [--work output/bench_refine]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch

from npcr.cli import results_folder
from npcr.config import load_config, save_config
from npcr.data import (CameraImageDataset, read_cam_poses, read_intrinsics, split_cameras,
                       write_native_scene)
from npcr.data.demo_scene import demo_mesh, make_demo_scene, render_mesh
from npcr.engine import run_training
from npcr.engine.baselines import fitted_splat
from npcr.engine.trained import Trained, load_trained
from npcr.geometry import Cameras
from npcr.metrics import psnr_from_mse
from npcr.temporal.refine_path import refine_path
from npcr.temporal.train import REFINE_DIR, run_refine_training

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCENES = {"demo": ("data/demo", {"seed": 0}),
          "dense": ("data/fur_dense", {"seed": 7, "strands": 1500, "num_points": 100000})}
RENDERER = ["MODEL.NUM_LAYERS", "4", "SOLVER.LAYER_SCHEDULE", "[[0, 1], [10, 2], [20, 4]]"]


def tool(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)


def orbit(scene: str, out: Path, frames: int) -> tuple[Path, Path]:
    folder = out / f"orbit{frames}"
    tool("exparamgen/exgen.py", "--campose", f"{scene}/CamPose.inf", "--intrinsics",
         f"{scene}/Intrinsic.inf", "--pointcloud", f"{scene}/pointclouds/frame1.txt", "--frames",
         str(frames), "--out", str(folder))
    return folder / "CamPose.inf", folder / "Intrinsic.inf"


def strip(video: Path, picks: list[int]) -> np.ndarray:
    """Frames ``picks`` of a side-by-side video stacked vertically (RGB)."""
    cap, rows, i = cv2.VideoCapture(str(video)), [], 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i in picks:
            rows.append(bgr)
        i += 1
    return np.concatenate(rows, 0)


def read_rgb(folder: Path, count: int) -> np.ndarray:
    """(T, H, W, 3) float RGB of ``frame_%04d.png`` 0..count-1 in ``folder``."""
    return np.stack([cv2.imread(str(folder / f"frame_{i:04d}.png"))[..., ::-1]
                     for i in range(count)]).astype(np.float64) / 255


def mean_psnr(x: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames of each frame's PSNR against the truth ((T, H, W, 3) in [0, 1])."""
    return float(np.mean([psnr_from_mse(m) for m in ((x - truth) ** 2).mean(axis=(1, 2, 3))]))


def blurred_to_psnr(truth: np.ndarray, psnr: float) -> tuple[np.ndarray, float]:
    """The truth frames blurred by the Gaussian (sigma in pixels, found by bisection) whose mean
    PSNR against the truth is ``psnr``: a video as sharp as a render of that PSNR that has no
    flicker of its own."""
    lo, hi = 0.05, 8.0
    for _ in range(25):
        sigma = (lo + hi) / 2
        blurred = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in truth])
        lo, hi = (sigma, hi) if mean_psnr(blurred, truth) > psnr else (lo, sigma)
    return blurred, sigma


def splat_video(trained: Trained, poses: np.ndarray, K: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) the renderer's non-learned baseline along the path: one colour per point
    fitted to its training photos with no network, as for its metrics.json (``fitted_splat``),
    splatted at 2x and averaged down."""
    cfg, data, model = trained.cfg, trained.data, trained.model
    train_ids, _, _ = split_cameras(data.scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS),
                                    list(cfg.DATASETS.SELECT_CAMERAS))
    frame = data.frames[0]
    splat, _ = fitted_splat(data.clouds.points[frame], data.frame_colors(frame), model.near,
                            model.far, cfg.MODEL.MAX_SPLAT, model.opaque,
                            CameraImageDataset(data.scene, train_ids, frame,
                                               tuple(cfg.INPUT.SIZE)))
    frames = [splat.render(Cameras(K[None], c2w[None], size, size))[0][0] for c2w in poses]
    return torch.stack(frames).permute(0, 2, 3, 1).clamp(0, 1).double().numpy()


def against_truth(scene_args: dict, cams: Path, intr: Path, videos: dict[str, Path],
                  trained: Trained) -> dict:
    """Temporal error and PSNR against the ray-traced truth of the path, per video, for the
    point-colour splat of ``trained`` and for a flicker-free reference as sharp as the raw video
    (``blurred_to_psnr``)."""
    poses, K = read_cam_poses(cams), read_intrinsics(intr)
    size = int(round(2 * K[0, 0, 2] + 1))
    mesh = demo_mesh(scene_args.get("seed", 0), scene_args.get("strands", 600))
    truth = np.stack(render_mesh(mesh, poses, K[0], size)[0]).astype(np.float64) / 255
    dg = np.diff(truth, axis=0)
    out = {}

    def measure(x: np.ndarray) -> dict:
        return {"temporal_error": float(np.abs(np.diff(x, axis=0) - dg).mean()),
                "psnr": mean_psnr(x, truth), "change": float(np.abs(np.diff(x, axis=0)).mean())}

    for name, folder in videos.items():
        out[name] = measure(read_rgb(folder, len(poses)))
    out["splat"] = measure(splat_video(trained, poses, K[0], size))
    blurred, sigma = blurred_to_psnr(truth, out["raw"]["psnr"])
    out["flicker_free"] = {**measure(blurred), "sigma": sigma}
    out["truth_change"] = float(np.abs(dg).mean())
    return out


def bench_scene(name: str, args: argparse.Namespace) -> dict:
    data, scene_args = SCENES[name]
    if not Path(data, "CamPose.inf").is_file():
        s = make_demo_scene(**scene_args)
        write_native_scene(data, s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors,
                           overwrite=True)
    out = Path(args.work) / name
    if not (out / "nr_model_30.pth").is_file():
        cfg = load_config("configs/demo.yml", ["OUTPUT_DIR", str(out), "DATASETS.ROOT", data,
                                               "TEST.IMAGE_PERIOD", "100000", *RENDERER])
        save_config(cfg, out / "config.yml")
        run_training(cfg, overwrite=True)
    trained = load_trained(out)
    renderer_metrics = json.loads((out / "metrics.json").read_text())
    done = out / REFINE_DIR / "metrics.json"
    if args.reuse and done.is_file():
        heldout = json.loads(done.read_text())
    else:
        cfg = load_config(out / "config.yml", ["OUTPUT_DIR", str(out), "REFINE.MAX_EPOCHS",
                                               str(args.refine_epochs), *args.opts])
        heldout = run_refine_training(cfg, trained, overwrite=True)
    cams, intr = orbit(data, out, 120)
    flicker = refine_path(out, cams, intr, out=out / "refined120")
    tool("tools/render.py", "--output-dir", str(out), "--cameras", str(cams), "--intrinsics",
         str(intr), "--out", str(out / "raw120"))
    truth = against_truth(scene_args, cams, intr,
                          {"raw": out / "raw120", "refined": out / "refined120"},
                          trained)
    peaks = {}
    for frames in (60, 600):
        cams_n, intr_n = orbit(data, out, frames)
        tool("tools/refine.py", "--output-dir", str(out), "--cameras", str(cams_n),
             "--intrinsics", str(intr_n), "--out", str(out / f"refined{frames}"))
        stats = json.loads((out / f"refined{frames}" / "stats.json").read_text())
        peaks[frames] = stats["peak_memory_mib"]

    results = Path(args.out)
    results.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(results / f"refine_{name}_raw_vs_refined.png"),
                strip(out / "refined120" / "side_by_side.mp4", [10, 40, 70, 100]))
    by_frame = flicker["warping_error_by_frame"]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(range(1, 120), by_frame["raw"], label="raw render")
    ax.plot(range(1, 120), by_frame["refined"], label="refined")
    ax.set_xlabel("frame")
    ax.set_ylabel("warping error")
    ax.set_title(f"{name}: flicker along a 120-frame orbit")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results / f"refine_{name}_flicker.png", dpi=100)
    plt.close(fig)
    return {"scene": name, "raw": flicker["warping_error_raw"],
            "refined": flicker["warping_error_refined"],
            "psnr_raw": heldout["heldout_psnr_raw"],
            "psnr_refined": heldout["heldout_psnr_refined"],
            "psnr_splat": renderer_metrics["point_colour_splat_psnr"],
            "peak60": peaks[60], "peak600": peaks[600], "truth": truth,
            "ms_per_frame": 1000 * flicker["seconds"] / flicker["frames"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refine-epochs", type=int, default=10)
    parser.add_argument("--work", default="output/bench_refine")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--reuse", action="store_true",
                        help="keep refine nets already trained in --work (measure only)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="REFINE.* overrides")
    args = parser.parse_args()
    rows = [bench_scene(name, args) for name in args.scenes]
    for r in rows:
        print(json.dumps(r), flush=True)
    lines = ["# Temporal refinement benchmark\n",
             f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} threads, no GPU. "
             f"Renderer: configs/demo.yml with L = 4 and a layer schedule, 30 epochs; refine net "
             f"{args.refine_epochs} epochs{' ' + ' '.join(args.opts) if args.opts else ''}. "
             "Flicker: mean warping error "
             "(previous frame warped into each frame by the rendered depth; squared RGB "
             "difference over valid pixels) along a 120-frame exgen orbit. PSNR: held-out "
             "cameras at the end of an approaching REFINE.SEQUENCE_LENGTH-frame sequence (5), "
             "raw render vs refined, and the renderer's point-colour splat baseline on the "
             "held-out cameras (its metrics.json). Memory: peak resident memory of "
             "tools/refine.py. ms/frame: render + refine + writing PNG, depth and two videos.\n",
             "| scene | warping error raw | refined | change | held-out PSNR raw | refined | "
             "change | splat | peak MiB 60 frames | 600 frames | ms/frame |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scene']} | {r['raw']:.3g} | {r['refined']:.3g} | "
                     f"{100 * (r['refined'] / r['raw'] - 1):+.0f}% | {r['psnr_raw']:.2f} | "
                     f"{r['psnr_refined']:.2f} | {r['psnr_refined'] - r['psnr_raw']:+.2f} dB | "
                     f"{r['psnr_splat']:.2f} | {r['peak60']:.0f} | {r['peak600']:.0f} | "
                     f"{r['ms_per_frame']:.0f} |")
    lines += ["\nAgainst the truth along the same orbit (the demo generator ray-traces it): "
              "temporal error = mean |(x_t - x_{t-1}) - (g_t - g_{t-1})| over frames and RGB "
              "pixels, PSNR against the truth frames.\n",
              "Flicker-free reference: the truth frames blurred by the Gaussian (sigma in pixels) "
              "whose mean PSNR against the truth equals the raw renders', a video as sharp as the "
              "raw one with no flicker of its own. Splat: the non-learned baseline, one colour per "
              "point fitted to the training photos with no network (as the held-out splat "
              "above), splatted at 2x and averaged down.\n",
              "| scene | temporal error raw | refined | change | flicker-free reference (sigma) | "
              "splat | orbit PSNR raw | refined | change | splat | mean frame-to-frame change: "
              "truth | raw | refined | splat |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["truth"]
        raw, ref, still, splat = t["raw"], t["refined"], t["flicker_free"], t["splat"]
        lines.append(f"| {r['scene']} | {raw['temporal_error']:.4f} | "
                     f"{ref['temporal_error']:.4f} | "
                     f"{100 * (ref['temporal_error'] / raw['temporal_error'] - 1):+.0f}% | "
                     f"{still['temporal_error']:.4f} ({still['sigma']:.2f}) | "
                     f"{splat['temporal_error']:.4f} | "
                     f"{raw['psnr']:.2f} | {ref['psnr']:.2f} | "
                     f"{ref['psnr'] - raw['psnr']:+.2f} dB | "
                     f"{splat['psnr']:.2f} | {t['truth_change']:.4f} | {raw['change']:.4f} | "
                     f"{ref['change']:.4f} | {splat['change']:.4f} |")
    lines.append("\nTargets: warping error >= 30% lower; temporal error against the truth >= 30% "
                 "lower with no more than 0.1 dB PSNR lost; held-out PSNR no more than 0.1 dB "
                 "lower; peak memory for 600 frames within 10% of 60 frames.")
    (Path(args.out) / "refine.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
