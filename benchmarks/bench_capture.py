#!/usr/bin/env python3
"""A real capture from photos to held-out renders: process_capture's stage times, then held-out
PSNR / SSIM of (a) the training photos' mean colour, a point-colour splat of the dense points
(one colour per point fitted to the training photos with no network, 2x supersampled), and the
renderer trained on (b) sparse SfM points, (c) dense points (and without the points for holes in
the cloud), (d) dense points + per-photo exposure and white balance; every 6th photo held out,
the same epochs for each. Writes ``benchmarks/results/capture_cpu.md``, ``capture_cpu.json`` and a picture
of held-out photos beside their renders (``capture_cpu.png``).

    python benchmarks/bench_capture.py --photos FOLDER [--size 252 189] [--epochs 120]
        [--work output/bench_capture] [--exposure-spread 0.3]

FOLDER holds the photos (the results come from "monstree", 23 phone photos of a carved tree trunk
outdoors, 756x1008; the photos are not part of the repository).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from npcr.cli import results_folder
from npcr.data import CameraImageDataset, item_cameras, split_cameras
from npcr.data.formats import load_scene_from
from npcr.engine.baselines import PointColourSplat
from npcr.engine.evaluate import evaluate_views
from npcr.metrics import colour_matched_psnr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_projection import machine  # noqa: E402

VARIANTS = {"b_sparse": ("sparse", ["MODEL.PHOTOMETRIC.EXPOSURE", "False",
                                    "MODEL.PHOTOMETRIC.WHITE_BALANCE", "False"]),
            "c_dense": ("dense", ["MODEL.PHOTOMETRIC.EXPOSURE", "False",
                                  "MODEL.PHOTOMETRIC.WHITE_BALANCE", "False"]),
            "d_dense_photometric": ("dense", [])}
# (c) without the points for holes in the cloud (DATASETS.FILL_HOLES), its gain measured
WITHOUT_HOLES = {"c_no_holes": ("dense", [*VARIANTS["c_dense"][1],
                                          "DATASETS.FILL_HOLES", "False"])}
# the same two on the dense scene whose training photos got random exposures (--exposure-spread)
VARIED = {"c_varied": ("varied", VARIANTS["c_dense"][1]), "d_varied": ("varied", [])}


def tool(*args) -> str:
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def process(photos: Path, work: Path, max_size: int) -> dict:
    """Photos -> sparse scene (SfM) -> dense scene (stereo, the same cameras); cached."""
    for name, source, points in (("sparse", photos, "sparse"), ("dense", work / "sparse", "dense")):
        if not (work / name / "capture.json").is_file():
            print(f"process_capture {source} -> {work / name} (--points {points})", flush=True)
            tool("tools/process_capture.py", source, work / name, "--points", points,
                 "--max-size", max_size)
    return {name: json.loads((work / name / "capture.json").read_text())
            for name in ("sparse", "dense")}


def vary_exposure(src: Path, dst: Path, val: list, spread: float, seed: int = 0) -> None:
    """A copy of the native scene ``src`` whose training photos are each multiplied by a random
    exposure exp(N(0, spread)) and white balance exp(N(0, spread / 3)) per channel; held-out photos
    stay as shot."""
    if (dst / "CamPose.inf").is_file():
        return
    rng = np.random.default_rng(seed)
    shutil.copytree(src, dst)
    for path in sorted((dst / "img" / "0").glob("img_????.png")):
        cam = int(path.stem[4:])
        gain = np.exp(rng.normal(0, spread) + rng.normal(0, spread / 3, 3))
        if cam not in val:
            img = cv2.imread(str(path)).astype(np.float64) * gain[::-1]  # BGR
            cv2.imwrite(str(path), np.clip(img.round(), 0, 255).astype(np.uint8))


def splat_psnr(scene_dir: Path, cams: list[int], size: tuple[int, int]) -> tuple[float, list]:
    """Held-out PSNR of the point-colour splat of the dense points (npcr.engine.baselines: one
    colour per point, started at the points' own and fitted to the training photos with no
    network, a fitted background colour, 2x supersampled), and its renders (H, W, 3)."""
    scene = load_scene_from(scene_dir)
    xyz, colors = (torch.from_numpy(a) for a in scene.points(0))
    train_ids, _, _ = split_cameras(scene.num_cameras, cams)
    train = list(CameraImageDataset(scene, train_ids, 0, size))
    held_out = list(CameraImageDataset(scene, cams, 0, size))
    splat = PointColourSplat(xyz, colors, 1e-3, 1e6, opaque=True)
    splat.fit(train, epochs=10)
    images = [splat.render(item_cameras(v))[0][0].permute(1, 2, 0).numpy() for v in held_out]
    return splat.psnr(held_out), images


def sheet_colour_matched_psnr(sheet_path: Path, count: int) -> float:
    """Mean colour-matched PSNR (npcr.metrics.colour_matched_psnr) of the renders in an evaluate
    contact sheet (truth | render | error rows)."""
    sheet = torch.from_numpy(cv2.imread(str(sheet_path))[..., ::-1].copy()).permute(2, 0, 1) / 255
    h = sheet.shape[1] // count
    out = []
    for i in range(count):
        truth, pred = torch.chunk(sheet[:, i * h:(i + 1) * h], 3, dim=2)[:2]
        out.append(colour_matched_psnr(pred[None], truth[None]))
    return float(np.mean(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", required=True, help="folder of the capture's photos")
    parser.add_argument("--size", type=int, nargs=2, default=(252, 189), metavar=("H", "W"))
    parser.add_argument("--max-size", type=int, default=1008, help="process_capture --max-size")
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--work", default="output/bench_capture")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--exposure-spread", type=float, default=0.3,
                        help="also train (c) and (d) on training photos with random exposures of "
                             "this log spread (0: skip)")
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    summaries = process(Path(args.photos), work, args.max_size)
    count = summaries["dense"]["cameras"]
    val = list(range(0, count, 6))
    size = tuple(args.size)
    variants = {**VARIANTS, **WITHOUT_HOLES}
    if args.exposure_spread > 0:
        vary_exposure(work / "dense", work / "varied", val, args.exposure_spread)
        summaries["varied"] = summaries["dense"]
        variants.update(VARIED)
    results = {}
    for name, (points, extra) in variants.items():
        run = work / f"run_{name}"
        if not (run / "metrics.json").is_file():
            print(f"training {name} ({args.epochs} epochs)", flush=True)
            tool("tools/train.py", "--config", "configs/capture.yml", "--overwrite",
                 "DATASETS.ROOT", work / points, "OUTPUT_DIR", run,
                 "INPUT.SIZE", f"({size[0]}, {size[1]})", "DATASETS.VAL_CAMERAS", str(val),
                 "SOLVER.MAX_EPOCHS", args.epochs, "TEST.EVAL_PERIOD", "10", *extra)
        metrics = json.loads((run / "metrics.json").read_text())
        report = evaluate_views(run, out=work / f"eval_{name}")
        results[name] = {"psnr": report["mean_psnr"], "ssim": report["mean_ssim"],
                         "colour_matched_psnr": sheet_colour_matched_psnr(
                             work / f"eval_{name}" / "contact_sheet.png", len(val)),
                         "points": trained_points(run, metrics["epoch"]),
                         "train_minutes": metrics["train_seconds"] / 60,
                         "best_psnr_by_epoch": max(metrics["heldout_psnr_by_epoch"].values()),
                         "mean_colour_psnr": metrics["mean_colour_psnr"]}
    splat, splat_images = splat_psnr(work / "dense", val, size)
    write_report(args, summaries, val, results, splat, out)
    write_picture(work, val, size, splat_images, out / "capture_cpu.png")


def trained_points(run: Path, epoch: int) -> int:
    """Points a run trained on (its cloud and any points added for holes): rows of its features."""
    return len(torch.load(run / f"nr_model_{epoch}.pth", weights_only=True)["features"])


def capture_name(photos: str) -> str:
    """The capture's name: its photo folder's, or the folder above an "images" folder."""
    folder = Path(photos).resolve()
    return folder.parent.name if folder.name == "images" else folder.name


def write_report(args, summaries: dict, val: list, results: dict, splat: float, out: Path) -> None:
    dense, sparse = summaries["dense"], summaries["sparse"]
    b, c, d = (results[k]["psnr"] for k in VARIANTS)
    rows = [("(a) mean colour of the training photos", "-",
             results["c_dense"]["mean_colour_psnr"], None, None, None),
            ("point-colour splat of the dense points (no network)", dense["points"], splat, None,
             None, None)]
    labels = {"b_sparse": "(b) renderer on sparse SfM points",
              "c_no_holes": "(c) without the points for holes (DATASETS.FILL_HOLES False)",
              "c_dense": "(c) renderer on dense points",
              "d_dense_photometric": "(d) (c) + exposure and white balance per photo",
              "c_varied": f"(c) on training photos of random exposure (spread {args.exposure_spread})",
              "d_varied": f"(d) on training photos of random exposure (spread {args.exposure_spread})"}
    for key in labels:
        if key not in results:
            continue
        r = results[key]
        rows.append((labels[key], r["points"], r["psnr"], r["ssim"], r["colour_matched_psnr"],
                     r["best_psnr_by_epoch"]))
    stages = {**sparse["seconds"], **{f"{k} (dense)": v for k, v in dense["seconds"].items()
                                      if k in ("undistort", "sparse points", "densify", "write")}}
    lines = [
        "# A real capture: photos to held-out renders (benchmarks/bench_capture.py)",
        "",
        f"Machine: {machine()}. Capture: "
        f"\"{capture_name(args.photos)}\", {sparse['photos']} phone photos, "
        f"{sparse['registered']} registered by "
        f"SfM ({sparse['sparse_points']} sparse points, reprojection error "
        f"{sparse['reprojection_error_px']} px), written at {sparse['size'][1]}x{sparse['size'][0]}; "
        f"dense points from stereo at {dense['densify']['stereo_size']}. Held out: cameras {val} "
        f"(every 6th photo); training at {args.size[1]}x{args.size[0]}, configs/capture.yml, "
        f"{args.epochs} epochs each (~{results['c_dense']['train_minutes']:.0f} min). Held-out "
        "renders are uncorrected (no photo's exposure applied).",
        "",
        "| method | points | held-out PSNR (dB) | SSIM | PSNR, colours matched | best PSNR "
        "during training |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(value, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for label, points, psnr, ssim, matched, best in rows:
        lines.append(f"| {label} | {points} | {psnr:.2f} | {cell(ssim, 3)} | {cell(matched)} | "
                     f"{cell(best)} |")
    lines += ["", f"Targets: (c) >= (b) + 1 dB: {c - b:+.2f} dB, "
              f"{'met' if c - b >= 1 else 'NOT met'}; (d) >= (c) + 0.3 dB: {d - c:+.2f} dB, "
              f"{'met' if d - c >= 0.3 else 'NOT met'}. Points for the holes in the cloud "
              f"(DATASETS.FILL_HOLES): {c - results['c_no_holes']['psnr']:+.2f} dB on (c).", "",
              *([f"With training photos of random exposure and white balance (log spread "
                 f"{args.exposure_spread}, held-out photos as shot), the per-photo correction "
                 f"gives {results['d_varied']['psnr'] - results['c_varied']['psnr']:+.2f} dB.", ""]
                if "d_varied" in results else []),
              "process_capture stage times (s): " + ", ".join(f"{k} {v}" for k, v in stages.items()),
              "", "'Colours matched': each render's channels fitted to its held-out photo by a gain "
              "and an offset before PSNR (the photo's own exposure and white balance, which no "
              "method can know, taken out).", "",
              "![held-out photos and renders](capture_cpu.png)", "",
              "Picture, left to right: held-out photo, (b) sparse, (c) dense without the points "
              "for holes, (c) dense, (d) dense + exposure, point-colour splat."]
    (out / "capture_cpu.md").write_text("\n".join(lines) + "\n")
    summaries = {k: {**v, "input": capture_name(args.photos)} for k, v in summaries.items()}
    (out / "capture_cpu.json").write_text(json.dumps(
        {"summaries": summaries, "val_cameras": val, "results": results, "splat_psnr": splat},
        indent=2) + "\n")
    print("\n".join(lines))


def write_picture(work: Path, val: list, size: tuple[int, int], splat: list, path: Path) -> None:
    """Two held-out views: photo | (b) | (c) without hole points | (c) | (d) | splat (from
    evaluate's contact sheets)."""
    h, _ = size
    rows = []
    for i in range(min(2, len(val))):
        cells = []
        for name in ("b_sparse", "c_no_holes", "c_dense", "d_dense_photometric"):
            sheet = cv2.imread(str(work / f"eval_{name}" / "contact_sheet.png"))
            truth, pred = np.split(sheet[i * h:(i + 1) * h], 3, axis=1)[:2]
            if not cells:
                cells.append(truth)
            cells.append(pred)
        cells.append((np.clip(splat[i], 0, 1)[..., ::-1] * 255).round().astype(np.uint8))
        rows.append(np.concatenate(cells, 1))
    cv2.imwrite(str(path), np.concatenate(rows, 0))


if __name__ == "__main__":
    main()
