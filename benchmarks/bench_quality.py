#!/usr/bin/env python3
"""Rendering quality on held-out views, against non-learned baselines on the same views.

Scenes (made in --work if missing): the demo fur ball at 128x128 (60k points), a denser, noisier
variant at 64x64 (80k points moved by N(0, 0.01): several points per pixel) and a sparse one at
64x64 (8k points). Each is trained with configs/demo.yml as it was before issue 16 ("before":
no supersampling, one point level, no augmentation, random features) and with the current
configs/demo.yml ("now"; crops of 48² on the 64² scenes); the demo scene also with each of the
changes alone on top of "before" (ablation); every scene also with MODEL.SPLAT_SKIP on top of
"now", and "now" without the weights' moving average (SOLVER.EMA_MOMENTUM 0) or without the SSIM
term of the loss (SOLVER.SSIM_WEIGHT 0). For every run:

- held-out PSNR after the last epoch (no checkpoint selection) and the best epoch's (selected on
  the same views: optimistic), SSIM;
- baselines on the same views: (a) the training photos' mean colour, (b) a point-colour splat: one
  RGB per point fitted to the training photos by gradient with no network (the best of splat sizes
  1, 2, 4 on the training photos), splatted at 2x and averaged down; the renderer's margin over (b);
- any resolution: held-out renders at 2x and 4x the training size averaged back down, PSNR against
  the same photos, and its change from the training-size renders;
- render time of a 512x512 frame (median of 5, this CPU; "now" makes renders finer than twice the
  training resolution at that scale and upsamples them, MODEL.MAX_RENDER_SCALE);
- no decline: "now" on the demo scene for 3x the epochs, final against best, and the mean of
  each 10 epochs (one epoch's PSNR moves by about 0.1 dB).

Finished runs whose config is unchanged are kept in --work and measured again (not retrained).

Writes benchmarks/results/quality_cpu.{md,json} and quality_cpu.png (held-out view: photo | splat |
before | now, and the 4x renders averaged down).

    python benchmarks/bench_quality.py [--epochs 30] [--skip-decline] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from npcr.cli import results_folder
from npcr.config import load_config, save_config
from npcr.data import CameraImageDataset, item_cameras, split_cameras, write_native_scene
from npcr.data.demo_scene import make_demo_scene
from npcr.engine import run_training
from npcr.engine.baselines import best_fitted_splat, mean_colour_psnr
from npcr.engine.scene_data import depth_range
from npcr.engine.evaluate import evaluate_views
from npcr.engine.trained import load_trained
from npcr.errors import NpcrError
from npcr.metrics import psnr

sys.path.insert(0, str(Path(__file__).parent))
from bench_projection import machine  # noqa: E402

VAL = [3, 15, 27, 39]
# name: (make_demo_scene arguments, point noise, options of "now": crops 3/4 of the image side)
SCENES = {"demo128": ({"seed": 0}, 0.0, []),
          "dense64": ({"seed": 2, "size": 64, "num_points": 80000}, 0.01,
                      ["INPUT.CROP", "[48, 48]"]),
          "sparse64": ({"seed": 2, "size": 64, "num_points": 8000}, 0.0, ["INPUT.CROP", "[48, 48]"])}
# configs/demo.yml before issue 16, as overrides of the current one
BEFORE = ["MODEL.SUPERSAMPLE", "1", "MODEL.POINT_LEVELS", "1", "INPUT.ZOOM_RANGE", "[1.0, 1.0]",
          "INPUT.CROP", "[0, 0]", "MODEL.INIT_FEATURES", "random", "MODEL.MAX_RENDER_SCALE", "0.0",
          "SOLVER.EMA_MOMENTUM", "0.0", "SOLVER.SSIM_WEIGHT", "0.0", "MODEL.UNET_INPUT_KERNEL", "3"]
# each change alone, on top of "before" (demo scene only)
ABLATION = {"+ supersample 2": ["MODEL.SUPERSAMPLE", "2"],
            "+ point levels 4": ["MODEL.POINT_LEVELS", "4"],
            "+ zoom and crop": ["INPUT.ZOOM_RANGE", "[0.75, 1.5]", "INPUT.CROP", "[96, 96]"],
            "+ colour init": ["MODEL.INIT_FEATURES", "colors"],
            "+ weight average": ["SOLVER.EMA_MOMENTUM", "0.02"],
            "+ SSIM term": ["SOLVER.SSIM_WEIGHT", "1.0"]}

# an option "now" leaves off, and two it has, tried on every scene
SPLAT_SKIP = ["MODEL.SPLAT_SKIP", "True"]
WITHOUT = {"weight average": ["SOLVER.EMA_MOMENTUM", "0.0"],
           "SSIM term": ["SOLVER.SSIM_WEIGHT", "0.0"]}


def make_scene(work: Path, name: str) -> Path:
    folder = work / "scenes" / name
    if not (folder / "CamPose.inf").is_file():
        kwargs, noise, _ = SCENES[name]
        s = make_demo_scene(**kwargs)
        rng = np.random.default_rng(0)
        points = (s.points + rng.normal(0, noise, s.points.shape)).astype(np.float32) \
            if noise else s.points
        write_native_scene(folder, s.cam_to_world, s.K, s.images, s.alphas, points, s.colors,
                           overwrite=True)
    return folder


def train(work: Path, scene: Path, run: str, epochs: int, opts: list[str]) -> Path:
    """Train one run in ``work``/runs/``run``; a finished run of the same config is kept (CPU
    training is deterministic)."""
    out = work / "runs" / run
    cfg = load_config("configs/demo.yml", ["OUTPUT_DIR", str(out), "DATASETS.ROOT",
                                           str(scene.resolve()), "DATASETS.VAL_CAMERAS", str(VAL),
                                           "SOLVER.MAX_EPOCHS", str(epochs),
                                           "SOLVER.CHECKPOINT_PERIOD", str(epochs),
                                           "TEST.IMAGE_PERIOD", "100000", *opts])
    if (out / "metrics.json").is_file() and same_config(out / "config.yml", cfg):
        return out
    save_config(cfg, out / "config.yml")
    run_training(cfg, overwrite=True)
    return out


def same_config(path: Path, cfg) -> bool:
    """Whether the run's saved config is ``cfg`` (one with keys this version lacks is not)."""
    try:
        return load_config(path).dump() == cfg.dump()
    except NpcrError:
        return False


def views(trained, ids: list[int]) -> list[dict]:
    return list(CameraImageDataset(trained.data.scene, ids, 0, tuple(trained.cfg.INPUT.SIZE)))


@torch.no_grad()
def render_scaled(trained, items: list[dict], factor: int) -> list[torch.Tensor]:
    """Each view rendered at ``factor`` x its size and averaged back down (B=1 RGB tensors)."""
    out = []
    for v in items:
        h, w = v["image"].shape[-2:]
        o = trained.model(trained.clouds, [0],
                          item_cameras(v).resized(factor * h, factor * w).to(trained.device))
        out.append(F.avg_pool2d(o["rgb"].clamp(0, 1).cpu(), factor) if factor > 1 else
                   o["rgb"].clamp(0, 1).cpu())
    return out


@torch.no_grad()
def render_ms(trained, item: dict, size: int = 512, repeats: int = 5) -> float:
    cameras = item_cameras(item).resized(size, size).to(trained.device)
    trained.model(trained.clouds, [0], cameras)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        trained.model(trained.clouds, [0], cameras)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def measure(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    trained = load_trained(out)
    val = views(trained, VAL)
    renders = {f: render_scaled(trained, val, f) for f in (1, 2, 4)}
    psnr_at = {f: float(np.mean([psnr(r[0], v["image"], v["valid"]) for r, v in zip(rs, val)]))
               for f, rs in renders.items()}
    return {"final": metrics["heldout_psnr"], "best": metrics["best_psnr"],
            "best_epoch": metrics["best_epoch"], "epochs": metrics["epoch"],
            "ssim": evaluate_views(out, out=out / "eval")["mean_ssim"],
            "train_seconds": metrics["train_seconds"],
            "psnr_2x": psnr_at[2], "psnr_4x": psnr_at[4], "render_512_ms": render_ms(trained, val[0]),
            "curve": metrics["heldout_psnr_by_epoch"], "renders": renders}


def baselines(out: Path) -> dict:
    trained = load_trained(out)
    train_ids, _, _ = split_cameras(trained.data.scene.num_cameras, VAL)
    train_views, val = views(trained, train_ids), views(trained, VAL)
    near, far = depth_range(trained.cfg, trained.data)
    splat, size = best_fitted_splat(trained.data.points, trained.data.colors, near, far,
                                    train_views, opaque=False)
    renders = [splat.render(item_cameras(v))[0] for v in val]
    return {"mean_colour": mean_colour_psnr(train_views, val), "splat": splat.psnr(val),
            "splat_size": size, "renders": renders,
            "truth": [v["image"][None] for v in val]}


def row(name: str, r: dict, base: dict) -> str:
    return (f"| {name} | {r['final']:.2f} | {r['final'] - base['splat']:+.2f} | "
            f"{r['best']:.2f} (ep. {r['best_epoch']}) | {r['ssim']:.3f} | "
            f"{r['psnr_2x'] - r['final']:+.2f} | {r['psnr_4x'] - r['final']:+.2f} | "
            f"{r['render_512_ms']:.0f} | {r['train_seconds']:.0f} |")


def picture(base: dict, runs: dict, path: Path, view: int = 0) -> None:
    """Per scene one row: photo | splat | before | now | now at 4x averaged down."""
    rows = []
    for scene, b in base.items():
        tiles = [b["truth"][view], b["renders"][view], runs[scene]["before"]["renders"][1][view],
                 runs[scene]["now"]["renders"][1][view], runs[scene]["now"]["renders"][4][view]]
        tiles = [F.interpolate(t, size=(128, 128), mode="nearest") for t in tiles]
        rows.append(torch.cat(tiles, 3)[0])
    img = (torch.cat(rows, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(path), img[..., ::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--skip-decline", action="store_true")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--work", default="output/bench_quality")
    args = parser.parse_args()
    work, e = Path(args.work), args.epochs
    runs: dict = {}
    base: dict = {}
    for scene_name in SCENES:
        scene = make_scene(work, scene_name)
        variants = {"before": BEFORE, "now": SCENES[scene_name][2]}
        if not args.skip_ablation:
            variants.update({f"now without {k}": SCENES[scene_name][2] + v
                             for k, v in WITHOUT.items()})
            variants["now + splat skip"] = SCENES[scene_name][2] + SPLAT_SKIP
        if scene_name == "demo128" and not args.skip_ablation:
            variants.update({k: BEFORE + v for k, v in ABLATION.items()})
        runs[scene_name] = {}
        for name, opts in variants.items():
            run = re.sub(r"[^a-z0-9]+", "_", f"{scene_name} {name}").strip("_")
            out = train(work, scene, run, e, opts)
            runs[scene_name][name] = measure(out)
            print(json.dumps({"scene": scene_name, "variant": name,
                              **{k: v for k, v in runs[scene_name][name].items()
                                 if k not in ("renders", "curve")}}), flush=True)
        base[scene_name] = baselines(out)
        print(json.dumps({"scene": scene_name, "mean_colour": base[scene_name]["mean_colour"],
                          "splat": base[scene_name]["splat"]}), flush=True)
    decline = None
    if not args.skip_decline:
        out = train(work, make_scene(work, "demo128"), "demo128_now_long", 3 * e, [])
        m = json.loads((out / "metrics.json").read_text())
        curve = [m["heldout_psnr_by_epoch"][k] for k in sorted(m["heldout_psnr_by_epoch"], key=int)]
        decline = {"epochs": 3 * e, "final": m["heldout_psnr"], "best": m["best_psnr"],
                   "best_epoch": m["best_epoch"],
                   "ten_epoch_means": [statistics.mean(curve[i:i + 10])
                                       for i in range(0, len(curve) - 9, 10)]}
        print(json.dumps({"decline": decline}), flush=True)
    write_report(args, runs, base, decline, Path(args.out))


def write_report(args, runs: dict, base: dict, decline: dict | None, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Rendering quality on held-out views (issue 16)\n",
             f"Machine: {machine()}, {torch.get_num_threads()} threads. `benchmarks/bench_quality.py "
             f"--epochs {args.epochs}`: fur-ball scenes, 44 training / 4 held-out cameras "
             f"({VAL}), {args.epochs} epochs each, configs/demo.yml. PSNR in dB on the held-out "
             "views after the last epoch; *best* is the best epoch on the same views (optimistic). "
             "2x / 4x: renders at 2x and 4x the training size averaged back down, change from the "
             "training-size renders. Splat: one RGB per point fitted to the training photos with "
             "no network, splatted at 2x and averaged down.\n"]
    for scene, variants in runs.items():
        b = base[scene]
        lines += [f"## {scene}\n",
                  f"Baselines on the same views: mean colour {b['mean_colour']:.2f} dB, point-colour "
                  f"splat {b['splat']:.2f} dB (splat size {b['splat_size']}).\n",
                  "| variant | held-out PSNR | vs splat | best | SSIM | 2x | 4x | 512² render ms | "
                  "train s |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [row(name, r, b) for name, r in variants.items()]
        lines.append("")
    if decline:
        lines.append(f"No decline: `now` on demo128 for {decline['epochs']} epochs ends at "
                     f"{decline['final']:.2f} dB, best {decline['best']:.2f} dB at epoch "
                     f"{decline['best_epoch']} (target: final within 0.2 dB of best); mean of each "
                     "10 epochs: " + ", ".join(f"{x:.2f}" for x in decline["ten_epoch_means"])
                     + " dB.\n")
    lines.append("![photo, splat, before, now, now at 4x averaged down](quality_cpu.png)\n")
    (out / "quality_cpu.md").write_text("\n".join(lines))
    picture(base, runs, out / "quality_cpu.png")
    strip = {s: {v: {k: x for k, x in r.items() if k != "renders"} for v, r in vs.items()}
             for s, vs in runs.items()}
    (out / "quality_cpu.json").write_text(json.dumps(
        {"machine": machine(), "epochs": args.epochs, "runs": strip,
         "baselines": {s: {k: x for k, x in b.items() if k not in ("renders", "truth")}
                       for s, b in base.items()}, "decline": decline}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
