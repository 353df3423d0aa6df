#!/usr/bin/env python3
"""Complete scenes: the pixels a dense cloud leaves uncovered (ground of faint or fine texture, far
background, sky) and what stereo at coarser levels gives back there.

For each capture: cameras and sparse points by tools/process_capture.py (--points sparse, from all
photos, as structure from motion registers every photo for any method), then dense points from
the *training* photos alone (every 6th photo held out), once with stereo at one level ("before":
--coarse-levels 0) and once as process_capture makes them now ("after"), and configs/capture.yml
trained on each. Held-out PSNR over all pixels and over the pixels no point of the "before" cloud
covers, for the renderer and for a point-colour splat of each cloud (no network); a picture of
held-out photos beside both renders (stereo seconds and training minutes go to the JSON
only: a quality benchmark, its runs not timed alone). Captures: "yard", generated (tests/box_scene.py: a house
front and a box on ground of weak texture, sky at infinity, 24 photos of 640x480), and the photos
of --photos when given (docs/capture.md's: monstree).

    python benchmarks/bench_complete.py [--photos FOLDER] [--work output/bench_complete]
        [--epochs 120] [--out benchmarks/results]

Writes ``complete_cpu.md``, ``complete_cpu.json`` and ``complete_cpu.jpg`` to --out.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from npcr.capture.densify import DensifyOptions, densify
from npcr.capture.holes import covered_pixels
from npcr.cli import results_folder
from npcr.data import CameraImageDataset, item_cameras, split_cameras
from npcr.data.formats import load_scene_from
from npcr.data.npcr_layout import write_points_txt
from npcr.engine.trained import load_trained
from npcr.metrics import psnr

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_capture import capture_name, splat_psnr, tool  # noqa: E402
from box_scene import write_yard_capture  # noqa: E402  (tests/box_scene.py)
from bench_projection import machine  # noqa: E402

VARIANTS = {"before": 0, "after": DensifyOptions.coarse_levels}  # name: coarse stereo levels


def prepare(name: str, source: Path, work: Path, max_size: int) -> tuple[Path, list[int]]:
    """The capture's cameras and sparse points (cached in work/name/sparse) and its held-out
    cameras (every 6th)."""
    sparse = work / name / "sparse"
    if not (sparse / "capture.json").is_file():
        print(f"process_capture {source} -> {sparse}", flush=True)
        tool("tools/process_capture.py", source, sparse, "--points", "sparse",
             "--max-size", max_size)
    count = json.loads((sparse / "capture.json").read_text())["cameras"]
    return sparse, list(range(0, count, 6))


def training_cloud(sparse: Path, out: Path, val: list[int], levels: int) -> dict:
    """``sparse``'s scene with dense points from its training photos alone, written to ``out``
    (cached); returns the stereo's counts and seconds."""
    if (out / "densify.json").is_file():
        return json.loads((out / "densify.json").read_text())
    scene = load_scene_from(sparse)
    train, _, _ = split_cameras(scene.num_cameras, val)
    reads = [scene.read(0, c) for c in train]
    clock = time.perf_counter()
    xyz, colors, stats = densify([r[0] for r in reads], [r[2] for r in reads], scene.K[train],
                                 scene.cam_to_world[train], scene.points(0)[0],
                                 DensifyOptions(coarse_levels=levels), progress=lambda _: None)
    stats["seconds"] = time.perf_counter() - clock
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(sparse, tmp)
    write_points_txt(tmp / "pointclouds" / "frame1.txt", xyz, colors)
    (tmp / "densify.json").write_text(json.dumps(stats, indent=2) + "\n")
    tmp.rename(out)
    return stats


def train(scene: Path, run: Path, val: list[int], size: tuple[int, int], epochs: int) -> None:
    if not (run / "metrics.json").is_file():
        print(f"training {run} ({epochs} epochs)", flush=True)
        tool("tools/train.py", "--config", "configs/capture.yml", "--overwrite",
             "DATASETS.ROOT", scene, "OUTPUT_DIR", run, "INPUT.SIZE", f"({size[0]}, {size[1]})",
             "DATASETS.VAL_CAMERAS", str(val), "SOLVER.MAX_EPOCHS", epochs)


def uncovered_masks(scene_dir: Path, val: list[int], size: tuple[int, int]) -> list[torch.Tensor]:
    """(1, H, W) of each held-out view: the pixels no point of the scene's cloud covers (gaps
    between points closed, as for the points for holes)."""
    scene = load_scene_from(scene_dir)
    points = torch.from_numpy(scene.points(0)[0])
    out = []
    for item in CameraImageDataset(scene, val, 0, size):
        covered, _ = covered_pixels(points, item_cameras(item))
        out.append(torch.from_numpy(~covered)[None].float())
    return out


@torch.no_grad()
def model_renders(run: Path) -> list[np.ndarray]:
    """The trained renderer's held-out views (H, W, 3) in [0, 1]."""
    t = load_trained(run)
    dataset = CameraImageDataset(t.data.scene, list(t.cfg.DATASETS.VAL_CAMERAS), 0,
                                 tuple(t.cfg.INPUT.SIZE))
    out = []
    for item in dataset:
        o = t.model(t.clouds, [0], item_cameras(item).to(t.device))
        out.append(o["rgb"][0].clamp(0, 1).permute(1, 2, 0).cpu().numpy())
    return out


def scores(renders: list[np.ndarray], views: list[dict], masks: list[torch.Tensor]) -> dict:
    """Mean held-out PSNR over the valid pixels and over the valid uncovered ones."""
    whole, uncovered = [], []
    for pred, view, mask in zip(renders, views, masks):
        pred = torch.from_numpy(pred).permute(2, 0, 1)
        whole.append(psnr(pred, view["image"], view["valid"]))
        if (mask * view["valid"]).sum() > 0:
            uncovered.append(psnr(pred, view["image"], view["valid"] * mask))
    return {"psnr": float(np.mean(whole)), "psnr_uncovered": float(np.mean(uncovered)),
            "per_view": whole, "per_view_uncovered": uncovered}


def evaluate(name: str, work: Path, sparse: Path, val: list[int], size: tuple[int, int]) -> dict:
    scene = load_scene_from(sparse)
    views = list(CameraImageDataset(scene, val, 0, size))
    masks = uncovered_masks(work / name / "before", val, size)
    result = {"uncovered_fraction": float(np.mean([float(m.mean()) for m in masks])),
              "pictures": {}}
    for variant in VARIANTS:
        renders = model_renders(work / name / f"run_{variant}")
        _, splats = splat_psnr(work / name / variant, val, size)
        splats = [np.clip(image, 0, 1) for image in splats]
        metrics = json.loads((work / name / f"run_{variant}" / "metrics.json").read_text())
        result[variant] = {"model": scores(renders, views, masks),
                           "splat": scores(splats, views, masks),
                           "train_minutes": metrics["train_seconds"] / 60,
                           "points": len(load_scene_from(work / name / variant).points(0)[0])}
        result["pictures"][variant] = renders[:2]
    result["pictures"]["truth"] = [v["image"].permute(1, 2, 0).numpy() for v in views[:2]]
    result["pictures"]["uncovered"] = [m[0].numpy() > 0 for m in masks[:2]]
    return result


def picture(results: dict, path: Path) -> None:
    """Two held-out views of each capture, one row each: photo | photo with the pixels the
    'before' cloud leaves uncovered in red | render before | render after."""
    rows = []
    for r in results.values():
        p = r["pictures"]
        for i in range(len(p["truth"])):
            photo = p["truth"][i]
            tinted = photo.copy()
            tinted[p["uncovered"][i]] = 0.4 * tinted[p["uncovered"][i]] + 0.6 * np.array([1, 0, 0])
            row = np.concatenate([photo, tinted, p["before"][i], p["after"][i]], 1)
            width = 4 * 256
            rows.append(cv2.resize(row, (width, round(row.shape[0] * width / row.shape[1])),
                                   interpolation=cv2.INTER_AREA))
    sheet = (np.concatenate(rows, 0) * 255).round().astype(np.uint8)
    cv2.imwrite(str(path), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])


def report(args, captures: dict, stereo: dict, results: dict, out: Path) -> None:
    lines = ["# Complete scenes: what coarser stereo levels give back (benchmarks/bench_complete.py)",
             "", f"Machine: {machine()}.", "",
             "Cameras and sparse points from all photos (tools/process_capture.py --points "
             "sparse); dense points from the training photos alone (every 6th photo held out), "
             "stereo at one level (before) or with its coarser levels (after, process_capture's "
             f"default); configs/capture.yml, {args.epochs} epochs. 'Uncovered': the held-out "
             "pixels no point of the 'before' cloud covers (gaps closed as for the points for "
             "holes): what is left to the environment map there. Held-out PSNR in dB.", "",
             "| capture | cloud | points | renderer PSNR | renderer PSNR, uncovered pixels | "
             "splat PSNR | splat PSNR, uncovered |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        for variant in VARIANTS:
            v = r[variant]
            lines.append(f"| {name} ({captures[name]['size']}, {100 * r['uncovered_fraction']:.0f}% "
                         f"uncovered) | {variant} | {v['points']} | {v['model']['psnr']:.2f} | "
                         f"{v['model']['psnr_uncovered']:.2f} | {v['splat']['psnr']:.2f} | "
                         f"{v['splat']['psnr_uncovered']:.2f} |")
    lines.append("")
    for name, r in results.items():
        b, a = r["before"]["model"], r["after"]["model"]
        lines.append(f"{name}: uncovered pixels {a['psnr_uncovered'] - b['psnr_uncovered']:+.2f} dB, "
                     f"whole views {a['psnr'] - b['psnr']:+.2f} dB (per held-out view, uncovered: "
                     + ", ".join(f"{x:.2f} -> {y:.2f}" for x, y in
                                 zip(b["per_view_uncovered"], a["per_view_uncovered"])) + ").")
    lines += ["", "![held-out photo | uncovered before (red) | render before | render after]"
              "(complete_cpu.jpg)", "",
              "Picture, each row a held-out view: photo, the pixels the 'before' cloud leaves "
              "uncovered in red, the render from the 'before' cloud, the render from the 'after' "
              "cloud."]
    (out / "complete_cpu.md").write_text("\n".join(lines) + "\n")
    for r in results.values():
        r.pop("pictures")
    (out / "complete_cpu.json").write_text(json.dumps(
        {"captures": captures, "stereo": stereo, "results": results, "epochs": args.epochs},
        indent=2) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", help="a real capture's photos (also benchmarked when given)")
    parser.add_argument("--work", default="output/bench_complete")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--epochs", type=int, default=120)
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    yard = work / "yard" / "capture"
    if not (yard / "transforms.json").is_file():
        write_yard_capture(yard)
    captures = {"yard": {"source": yard, "size": (192, 256), "max_size": 640}}
    if args.photos:
        captures[capture_name(args.photos)] = {"source": Path(args.photos), "size": (252, 189),
                                               "max_size": 1008}
    stereo, results = {}, {}
    for name, c in captures.items():
        sparse, val = prepare(name, c["source"], work, c["max_size"])
        stereo[name] = {}
        for variant, levels in VARIANTS.items():
            stereo[name][variant] = training_cloud(sparse, work / name / variant, val, levels)
            train(work / name / variant, work / name / f"run_{variant}", val, c["size"],
                  args.epochs)
        results[name] = evaluate(name, work, sparse, val, c["size"])
    captures = {k: {"size": f"{v['size'][1]}x{v['size'][0]}"}
                for k, v in captures.items()}
    picture(results, out / "complete_cpu.jpg")
    report(args, captures, stereo, results, out)


if __name__ == "__main__":
    main()
