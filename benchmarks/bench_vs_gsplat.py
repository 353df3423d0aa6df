#!/usr/bin/env python3
"""npcr beside 3D Gaussian Splatting (gsplat) on a real capture, on one GPU, at equal training
budgets: the `capture` step of benchmarks/gpu_check.sh.

The scene is a native scene made by tools/process_capture.py at the photos' own resolution (dense
points for npcr); gsplat starts from the structure-from-motion points of the same capture (its
usual start), with the same cameras, training and held-out photos (every 6th held out). For each
budget npcr trains with configs/capture_gpu.yml (full resolution) for as many epochs as the
budget allows at the rate of a first 2-epoch calibration run; gsplat trains by
benchmarks/gsplat_anchor.py (its example trainer's defaults, the schedule scaled to the budget).
Both are judged the same way: held-out PSNR and SSIM over the pixels the undistorted photos
cover, PSNR once each render's colours are fitted to its photo (gain and offset per channel: the
held-out photo's own exposure, which neither can know, taken out), training seconds and
iterations, peak GPU memory, milliseconds per full-size frame, model size on disk.

    python benchmarks/bench_vs_gsplat.py --scene SCENE --sfm-points POINTS.txt --out DIR \\
        [--budgets 60,300] [--work DIR] [--size H W]

Writes DIR/vs_gsplat_<dev>.md, DIR/vs_gsplat_<dev>.png (held-out photo | npcr | gsplat, the
longest budget) and DIR/vs_gsplat_<dev>.json. Without gsplat (or a GPU) the anchor is skipped
and said so; --size trains and judges npcr at another size (the CPU dry run).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from npcr.cli import results_folder
from npcr.data import CameraImageDataset, item_cameras, read_points
from npcr.data.formats import load_scene_from
from npcr.engine.checkpoints import RENDERER
from npcr.engine.trained import load_trained
from npcr.metrics import colour_matched_psnr, psnr, ssim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_projection import machine  # noqa: E402
from gsplat_anchor import sync  # noqa: E402  (gsplat itself is imported only to train)

CONFIG = "configs/capture_gpu.yml"


def run(*args) -> None:
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def train_npcr(scene: Path, run_dir: Path, val: list[int], epochs: int, extra: list) -> dict:
    run("tools/train.py", "--config", CONFIG, "--overwrite", "DATASETS.ROOT", scene,
        "OUTPUT_DIR", run_dir, "DATASETS.VAL_CAMERAS", str(val), "SOLVER.MAX_EPOCHS", epochs,
        "TEST.EVAL_PERIOD", epochs, "SOLVER.CHECKPOINT_PERIOD", epochs, "TEST.IMAGE_PERIOD", 0,
        "TEST.BASELINES", False, *extra)
    return json.loads((run_dir / "metrics.json").read_text())


@torch.no_grad()
def judge_npcr(run_dir: Path, size: tuple[int, int], repeats: int = 10) -> tuple[dict, list]:
    """Held-out figures of a trained npcr run and its renders (H, W, 3) uint8."""
    t = load_trained(run_dir)
    cams = list(t.cfg.DATASETS.VAL_CAMERAS)
    rows, times, images = [], [], []
    for item in CameraImageDataset(t.data.scene, cams, 0, size):
        cameras = item_cameras(item).to(t.device)
        for attempt in range(repeats + 2):  # the first two warm up (the second captures a graph)
            sync(t.device)
            start = time.perf_counter()
            rgb = t.render([0], cameras)["rgb"]
            sync(t.device)
            if attempt >= 2:
                times.append(time.perf_counter() - start)
        pred = rgb.float().clamp(0, 1).cpu()
        rows.append(figures(pred, item["image"][None], item["valid"][None]))
        images.append((pred[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    checkpoint = run_dir / RENDERER.model(t.epoch)
    # the model: its checkpoint (features, network) and the points' positions (float32)
    size_bytes = checkpoint.stat().st_size + 12 * t.data.clouds.total
    return {"views": rows, **means(rows), "render_ms": 1e3 * statistics.median(times),
            "model_bytes": size_bytes, "points": t.data.clouds.total}, images


def figures(pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor) -> dict:
    """PSNR, SSIM and colour-matched PSNR of a (1, 3, H, W) render over the valid pixels."""
    return {"psnr": psnr(pred, truth, valid), "ssim": ssim(pred, truth, valid),
            "psnr_colour_matched": colour_matched_psnr(pred, truth, valid)}


def means(rows: list[dict]) -> dict:
    return {k: statistics.fmean(r[k] for r in rows) for k in ("psnr", "ssim", "psnr_colour_matched")}


def anchor_available(device: str) -> str | None:
    """Why gsplat cannot run here, or None."""
    if importlib.util.find_spec("gsplat") is None:
        return "gsplat is not installed"
    if device != "cuda" or not torch.cuda.is_available():
        return "gsplat needs a CUDA device"
    return None


def train_gsplat(scene: Path, points: Path, val: list[int], budget: float, out: Path,
                 size: tuple[int, int]) -> tuple[dict, list]:
    run(Path(__file__).with_name("gsplat_anchor.py"), "--scene", scene, "--points", points,
        "--val", ",".join(map(str, val)), "--budget", budget, "--out", out)
    result = json.loads((out / "gsplat.json").read_text())
    scene_data = load_scene_from(scene)
    rows, images = [], []
    for item, view in zip(CameraImageDataset(scene_data, val, 0, size), result["views"]):
        image = cv2.imread(str(out / f"heldout_{view['camera']}.png"))[..., ::-1].copy()
        pred = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        rows.append(figures(pred, item["image"][None], item["valid"][None]))
        images.append(image)
    result.update(views=rows, **means(rows))  # judged as npcr's renders are (8-bit images)
    return result, images


def contact_sheet(truth: list, npcr: list, anchor: list | None, path: Path) -> None:
    """One row per held-out view: photo | npcr | gsplat, at half size."""
    rows = []
    for i, photo in enumerate(truth):
        cells = [photo, npcr[i]] + ([anchor[i]] if anchor else [])
        row = np.concatenate(cells, 1)
        rows.append(cv2.resize(row, (row.shape[1] // 2, row.shape[0] // 2),
                               interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(path), np.concatenate(rows, 0)[..., ::-1])


def report(args, dev: str, scene_info: dict, results: dict, skipped: str | None, out: Path) -> None:
    lines = ["# npcr beside 3D Gaussian Splatting (gsplat) on a real capture "
             "(benchmarks/bench_vs_gsplat.py)", "", f"Machine: {machine()}.", "",
             f"Scene: {scene_info['name']}, {scene_info['cameras']} photos at "
             f"{scene_info['size']}, held out: {scene_info['val']} (every 6th). npcr: "
             f"{CONFIG} on {scene_info['points']} dense points; gsplat {scene_info['gsplat']}: "
             f"its example trainer's defaults from {scene_info['sfm_points']} SfM points, the "
             "schedule scaled to the budget. Held-out figures over the pixels the undistorted "
             "photos cover.", "",
             "| system | budget s | trained s | iterations | PSNR | PSNR colour-matched | SSIM | "
             "ms / frame | peak GPU MiB | model MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, r in results.items():
        system, budget = key.split("@")
        peak = "-" if r.get("peak_mib") is None else f"{r['peak_mib']:.0f}"
        lines.append(f"| {system} | {budget} | {r['train_seconds']:.0f} | {r['iterations']} | "
                     f"{r['psnr']:.2f} | {r['psnr_colour_matched']:.2f} | {r['ssim']:.3f} | "
                     f"{r['render_ms']:.1f} | {peak} | {r['model_bytes'] / 1e6:.1f} |")
    lines.append("")
    if skipped:
        lines.append(f"gsplat not run: {skipped}.")
    else:
        compile_s = next(r["compile_seconds"] for k, r in results.items() if k.startswith("gsplat"))
        lines.append(f"gsplat's CUDA kernels compiled in {compile_s:.0f} s on first use (not "
                     "counted in any budget).")
        for budget in args.budgets:
            n, g = results[f"npcr@{budget}"], results[f"gsplat@{budget}"]
            lines.append(f"At {budget} s: npcr - gsplat PSNR {n['psnr'] - g['psnr']:+.2f} dB "
                         f"(target >= -1), frame time {n['render_ms'] / g['render_ms']:.2f}x "
                         f"gsplat's (target <= 0.5).")
    lines += ["", f"![held-out photo | npcr | gsplat](vs_gsplat_{dev}.png)", "",
              f"Picture: held-out photos, npcr's and gsplat's renders after {args.budgets[-1]} s."]
    (out / f"vs_gsplat_{dev}.md").write_text("\n".join(lines) + "\n")
    (out / f"vs_gsplat_{dev}.json").write_text(json.dumps(
        {"scene": scene_info, "results": results, "gsplat_skipped": skipped}, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", required=True, help="native scene at full resolution")
    parser.add_argument("--sfm-points", required=True, help="structure-from-motion points (text)")
    parser.add_argument("--out", type=results_folder, required=True,
                        help="folder for the table, picture and figures")
    parser.add_argument("--work", default="output/bench_vs_gsplat")
    parser.add_argument("--budgets", default="60,300", help="training seconds, comma-separated")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                        help="train and judge at this size instead of the photos' own")
    args = parser.parse_args()
    args.budgets = [int(b) for b in args.budgets.split(",")]
    scene_dir, out, work = Path(args.scene), Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    scene = load_scene_from(scene_dir)
    val = list(range(0, scene.num_cameras, 6))
    first = next(iter(CameraImageDataset(scene, val, 0)))["image"]
    size = tuple(args.size) if args.size else tuple(first.shape[-2:])
    extra = ["DEVICE", args.device]
    if args.size:
        extra += ["INPUT.SIZE", f"({size[0]}, {size[1]})", "INPUT.CROP", "[0, 0]"]
    skipped = anchor_available(args.device)
    if skipped:
        print(f"gsplat not run: {skipped}", flush=True)

    calibration = train_npcr(scene_dir, work / "npcr_calibration", val, 2, extra)
    iters_per_epoch = calibration["iterations"] / 2
    results, pictures = {}, {}
    for budget in args.budgets:
        epochs = max(1, int(budget * calibration["it_per_s"] / iters_per_epoch))
        print(f"npcr: {epochs} epochs for {budget} s", flush=True)
        metrics = train_npcr(scene_dir, work / f"npcr_{budget}", val, epochs, extra)
        judged, pictures["npcr"] = judge_npcr(work / f"npcr_{budget}", size)
        results[f"npcr@{budget}"] = {**judged, "epochs": epochs,
                                     "train_seconds": metrics["train_seconds"],
                                     "iterations": metrics["iterations"],
                                     "peak_mib": metrics["peak_memory_mib"]
                                     if args.device == "cuda" else None}
        if not skipped:
            print(f"gsplat: {budget} s", flush=True)
            r, pictures["gsplat"] = train_gsplat(scene_dir, Path(args.sfm_points), val, budget,
                                                 work / f"gsplat_{budget}", size)
            results[f"gsplat@{budget}"] = {**r, "iterations": r["steps"],
                                           "peak_mib": r["peak_memory_bytes"] / 2 ** 20}
    truth = [(item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
             for item in CameraImageDataset(scene, val, 0, size)]
    dev = "cuda" if args.device == "cuda" else "cpu"
    contact_sheet(truth, pictures["npcr"], pictures.get("gsplat"), out / f"vs_gsplat_{dev}.png")
    sfm, _ = read_points(args.sfm_points)
    gsplat_version = "not installed"
    if importlib.util.find_spec("gsplat") is not None:
        from importlib.metadata import version
        gsplat_version = version("gsplat")
    info = {"name": scene_dir.name, "cameras": scene.num_cameras, "size": f"{size[1]}x{size[0]}",
            "val": val, "points": len(scene.points(0)[0]), "sfm_points": len(sfm),
            "gsplat": gsplat_version}
    report(args, dev, info, results, skipped, out)


if __name__ == "__main__":
    main()
