#!/usr/bin/env python3
"""Temporal refinement on paths whose raw renders flicker.

bench_refine.py measures the refine net where raw renders already sit at the flicker floor (dense
clouds at the training size). Here the paths are chosen to flicker without it:

- ``sparse_2x``: the demo fur ball with a sparse cloud (--sparse-points of its surface), trained
  at 128x128 (configs/demo.yml), rendered along a 120-frame exgen orbit at 256x256: at twice the
  training size the points' footprints are a quarter of a pixel's area, and points pop in and out
  of the pixels frame to frame. ``dense_2x``, the demo's own 60000 points at 256x256, beside it.
  The demo generator ray-traces the truth along the orbit, so flicker is measured **against the
  truth**: the temporal error, mean |(x_t - x_{t-1}) - (g_t - g_{t-1})| over frames and RGB pixels
  (as bench_refine.py), with PSNR and SSIM against the truth frames; and the refine net's own
  measure, the warping error (warped-frame differences), beside it.
- ``capture``: a trained run of a real capture (--capture-run; default the monstree run that
  bench_complete.py trains) along a 120-frame orbit of its cloud at its training size. There is
  no truth along an orbit of photos: flicker is measured **only by the warping error** (the
  previous frame warped into each frame by the rendered depth, squared RGB difference), which the
  refine net is itself trained to lower, and the side-by-side video (raw | refined) is kept in
  the work folder for looking at; a strip of it goes to the results.

Beside the refine net on the generated paths, a non-learned baseline: temporal antialiasing (a
fixed blend of each render with the previous output warped into it), warped by the rendered depth
the net also sees, by a plane sweep (each pixel's depth chosen among the rendered one and
SWEEP_PLANES others by how well the warped previous output matches the render) and by the truth's
depth, which shows how much of the flicker a perfect depth would let a warp remove.

Per path: the renderer is trained once (kept in --work), the refine net trained for
--refine-epochs (REFINE.* overrides after the options), then the raw and refined videos are
measured. Writes ``benchmarks/results/flicker.md``, a raw | refined strip and a per-frame plot per
path.

    python benchmarks/bench_flicker.py [--paths sparse_2x dense_2x capture] [--refine-epochs 10]
        [--capture-run output/bench_complete/monstree/run_after] [REFINE.KEY VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch
import torch.nn.functional as F

from npcr.cli import results_folder
from npcr.config import load_config, save_config
from npcr.data import read_cam_poses, read_intrinsics, write_native_scene
from npcr.data.demo_scene import demo_mesh, make_demo_scene, mesh_depth, render_mesh
from npcr.engine import run_training
from npcr.engine.trained import load_trained
from npcr.geometry import Cameras
from npcr.metrics import ssim
from npcr.temporal.refine_path import CachedRenders, refine_path
from npcr.temporal.warp import warp_previous
from npcr.temporal.train import run_refine_training

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_refine import blurred_to_psnr, mean_psnr, orbit, read_rgb, strip, tool  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEMO_PATHS = {"sparse_2x": "sparse", "dense_2x": "dense"}  # path: demo cloud
FRAMES, SCALE = 120, 2
WARP_TOLERANCE = 0.02  # relative depth difference beyond which a warped pixel is another surface
TAA_CURRENT_WEIGHT = 0.25  # the non-learned baseline's share of each new render (history 0.75)
SWEEP_PLANES = 32  # depths the plane-sweep baseline tries per pixel beside the rendered one


def demo_run(cloud: str, points: int, work: Path) -> tuple[Path, Path]:
    """The demo scene with ``points`` cloud points and its renderer trained on configs/demo.yml
    (both kept in ``work``); returns (scene folder, run folder)."""
    scene, run = work / f"scene_{cloud}", work / f"run_{cloud}"
    if not (scene / "CamPose.inf").is_file():
        s = make_demo_scene(seed=0, num_points=points)
        write_native_scene(scene, s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors,
                           overwrite=True)
    if not (run / "nr_model_30.pth").is_file():
        cfg = load_config("configs/demo.yml", ["OUTPUT_DIR", str(run), "DATASETS.ROOT",
                                               str(scene), "TEST.IMAGE_PERIOD", "100000"])
        save_config(cfg, run / "config.yml")
        run_training(cfg, overwrite=True)
    return scene, run


def train_refiner(run: Path, args: argparse.Namespace) -> dict:
    """The refine net of ``run`` trained for --refine-epochs; its held-out PSNR raw / refined."""
    cfg = load_config(run / "config.yml", ["OUTPUT_DIR", str(run), "REFINE.MAX_EPOCHS",
                                           str(args.refine_epochs), *args.opts])
    return run_refine_training(cfg, load_trained(run), overwrite=True)


def raw_and_refined(run: Path, raw: Path, refined: Path, args: argparse.Namespace,
                    render_args: list[str], **path: object) -> tuple[dict, dict]:
    """The refine net's held-out PSNR (refine/metrics.json) and the refined path's stats: with
    --measure-only those saved before; else the refine net of ``run`` trained, the path rendered
    raw into ``raw`` (tools/render.py ``render_args``) and refined into ``refined``
    (``refine_path`` with ``path``)."""
    if args.measure_only:
        return (json.loads((run / "refine" / "metrics.json").read_text()),
                json.loads((refined / "stats.json").read_text()))
    heldout = train_refiner(run, args)
    for folder in (raw, refined):
        shutil.rmtree(folder, ignore_errors=True)
    tool("tools/render.py", "--output-dir", str(run), *render_args, "--out", str(raw))
    return heldout, refine_path(run, out=refined, **path)


def motion_compensated_change(video: np.ndarray, depth: np.ndarray, cameras: Cameras
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(T-1, 3, H, W) each frame of ``video`` (T, H, W, 3) minus the one before warped into it by
    the truth's ``depth`` (T, H, W) along ``cameras`` (T), and where that warp is valid (seen in
    both frames, same surface)."""
    x = torch.from_numpy(video).permute(0, 3, 1, 2).float()
    z = torch.from_numpy(depth)[:, None]
    warped, valid = warp_previous(x[:-1], z[:-1], z[1:], cameras[1:], cameras[:-1],
                                  WARP_TOLERANCE)
    return x[1:] - warped, valid


def temporal_antialiasing(video: np.ndarray, depth: np.ndarray, cameras: Cameras,
                          tolerance: float, planes: int = 0) -> np.ndarray:
    """The non-learned baseline to the refine net (temporal antialiasing without a network): each
    output frame is TAA_CURRENT_WEIGHT x the render + the rest x the previous output warped into
    it by ``depth`` (T, H, W), where that warp is valid (``warp_previous``, ``tolerance``); the
    render alone elsewhere. With ``planes``, each pixel's depth is instead the one of
    ``sweep_candidates`` whose warp of the previous output best matches the render (a plane
    sweep between consecutive frames)."""
    x = torch.from_numpy(video).permute(0, 3, 1, 2).float()
    z = torch.from_numpy(depth).float()[:, None]
    out, previous_depth = [x[0]], z[0]
    for t in range(1, len(x)):
        candidates = sweep_candidates(z[t], planes) if planes else z[t:t + 1]
        best = None
        for candidate in candidates:
            warped, valid = warp_previous(out[-1][None], previous_depth[None], candidate[None],
                                          cameras[t:t + 1], cameras[t - 1:t], tolerance)
            mismatch = F.avg_pool2d((warped[0] - x[t]).abs().sum(0, keepdim=True), 3, 1, 1)
            mismatch = torch.where(valid[0] > 0, mismatch, torch.full_like(mismatch, torch.inf))
            if best is None:
                best = [mismatch, warped[0], valid[0], candidate]
            else:
                better = mismatch < best[0]
                best = [torch.where(better, new, old)
                        for new, old in zip((mismatch, warped[0], valid[0], candidate), best)]
        _, warped, valid, chosen = best
        blend = TAA_CURRENT_WEIGHT * x[t] + (1 - TAA_CURRENT_WEIGHT) * warped
        out.append(torch.where(valid > 0, blend, x[t]))
        previous_depth = torch.where(valid > 0, chosen, z[t])
    return torch.stack(out).permute(0, 2, 3, 1).double().numpy()


def sweep_candidates(depth: torch.Tensor, planes: int) -> torch.Tensor:
    """(1 + planes, 1, H, W): ``depth`` (1, H, W) itself, then ``planes`` constant depths spanning
    its 2nd to 98th percentile, each where ``depth`` has one (0 elsewhere)."""
    seen = depth > 0
    if not seen.any():
        return depth[None]
    low, high = torch.quantile(depth[seen], torch.tensor([0.02, 0.98]))
    levels = torch.linspace(float(low), float(high), planes)[:, None, None, None]
    return torch.cat([depth[None], torch.where(seen, levels, 0.0)])


def against_truth(videos: dict[str, np.ndarray], truth: np.ndarray, depth: np.ndarray,
                  cameras: Cameras) -> dict:
    """Per video, against the truth frames (T, H, W, 3): the temporal error, the flicker error
    (the same after motion compensation: each frame's change from the previous one warped by
    the truth's geometry, against the truth's own), PSNR and SSIM."""
    dg = np.diff(truth, axis=0)
    gt = torch.from_numpy(truth).permute(0, 3, 1, 2).float()
    truth_change, valid = motion_compensated_change(truth, depth, cameras)
    valid_mean = valid.expand_as(truth_change).sum().clamp_min(1)
    out = {}
    for name, x in videos.items():
        pred = torch.from_numpy(x).permute(0, 3, 1, 2).float()
        change, _ = motion_compensated_change(x, depth, cameras)
        out[name] = {"temporal_error": float(np.abs(np.diff(x, axis=0) - dg).mean()),
                     "flicker_error": float(((change - truth_change).abs() * valid).sum()
                                            / valid_mean),
                     "psnr": mean_psnr(x, truth),
                     "ssim": float(np.mean([ssim(pred[i:i + 1], gt[i:i + 1])
                                            for i in range(len(x))]))}
    out["truth_change"] = float(np.abs(dg).mean())
    out["truth_compensated_change"] = float((truth_change.abs() * valid).sum() / valid_mean)
    return out


def bench_demo_path(name: str, args: argparse.Namespace) -> dict:
    cloud = DEMO_PATHS[name]
    work = Path(args.work)
    scene, run = demo_run(cloud, args.sparse_points if cloud == "sparse" else 60000, work)
    base = 128  # the demo's photos
    size = SCALE * base
    raw, refined = work / name / "raw", work / name / "refined"
    cams, intr = orbit(str(scene), work / name, FRAMES)
    heldout, stats = raw_and_refined(run, raw, refined, args,
                                     ["--cameras", str(cams), "--intrinsics", str(intr),
                                      "--size", str(size), str(size)],
                                     campose=cams, intrinsics=intr, size=(size, size))
    poses = read_cam_poses(cams)
    K = Cameras(read_intrinsics(intr)[:1], poses[:1], base, base).resized(size, size).K[0]
    truth = np.stack(render_mesh(demo_mesh(0), poses, K, size)[0]).astype(np.float64) / 255
    videos = {"raw": read_rgb(raw, FRAMES), "refined": read_rgb(refined, FRAMES)}
    videos["reference"], sigma = blurred_to_psnr(truth, mean_psnr(videos["raw"], truth))
    cameras = Cameras(np.repeat(K[None], len(poses), 0), poses, size, size).to()
    true_depth = mesh_depth(demo_mesh(0), poses, K, size)
    rendered_depth = np.stack([np.load(refined / f"depth_{i:04d}.npy") for i in range(FRAMES)])
    tolerance = load_config(run / "refine" / "config.yml").REFINE.DEPTH_TOLERANCE
    videos["taa_rendered_depth"] = temporal_antialiasing(videos["raw"], rendered_depth, cameras,
                                                         tolerance)
    videos["taa_true_depth"] = temporal_antialiasing(videos["raw"], true_depth, cameras,
                                                     tolerance)
    videos["taa_plane_sweep"] = temporal_antialiasing(videos["raw"], rendered_depth, cameras,
                                                      tolerance, SWEEP_PLANES)
    measured = against_truth(videos, truth, true_depth, cameras)
    return {"path": name, "truth": {**measured, "reference_sigma": sigma}, "stats": stats,
            "heldout": heldout, "size": size, "side_by_side": refined / "side_by_side.mp4"}


def bench_capture(args: argparse.Namespace) -> dict | None:
    source = Path(args.capture_run)
    if not (source / "config.yml").is_file():
        print(f"capture: no trained run at {source} (benchmarks/bench_complete.py trains it); "
              "skipped", flush=True)
        return None
    work = Path(args.work) / "capture"
    run = work / "run"
    if not run.is_dir():  # a copy: the refine net's files go beside the renderer's, not there
        best = json.loads((source / "nr_model_best.json").read_text())["epoch"] \
            if (source / "nr_model_best.json").is_file() else None
        run.mkdir(parents=True)
        for f in source.iterdir():
            if f.suffix in (".yml", ".json") or (f.name == f"nr_model_{best}.pth") or \
                    (best is None and f.name.startswith("nr_model_")):
                shutil.copy2(f, run / f.name)
        cfg = load_config(run / "config.yml", ["OUTPUT_DIR", str(run)])
        save_config(cfg, run / "config.yml")
    raw, refined = work / "raw", work / "refined"
    heldout, stats = raw_and_refined(run, raw, refined, args,
                                     ["--orbit", "0:360", "--frames", str(FRAMES), "--depth"],
                                     cache=raw)
    return {"path": "capture", "truth": None, "stats": stats, "heldout": heldout,
            "size": stats["size"][0], "side_by_side": refined / "side_by_side.mp4",
            "videos": (raw, refined)}


def warped_differences(raw: Path, refined: Path, picks: list[int]) -> np.ndarray:
    """Per frame of ``picks`` (a row each): the raw frame, then of the raw and of the refined
    video |frame - the previous frame warped into it by the rendered depth| (x4, black where the
    warp is not valid): the change the warping error measures, as BGR."""
    rows = []
    for t in picks:
        row = []
        for folder in (raw, refined):
            video = CachedRenders(folder)
            cameras = video.path().to()
            (before, before_depth), (now, depth) = (video.load(i, torch.device("cpu"))
                                                    for i in (t - 1, t))
            warped, valid = warp_previous(before[:, :3], before_depth, depth, cameras[t:t + 1],
                                          cameras[t - 1:t], WARP_TOLERANCE)
            if folder == raw:
                row.append(now[0, :3])
            row.append((4 * (now[0, :3] - warped[0]).abs() * valid[0]).clamp(0, 1))
        rows.append(torch.cat(row, 2))
    rgb = torch.cat(rows, 1).permute(1, 2, 0).numpy()
    return (255 * rgb[..., ::-1]).round().astype(np.uint8)


def pictures(row: dict, results: Path) -> None:
    """A raw | refined strip of four frames and the per-frame warping error; where there is no
    truth, also ``warped_differences`` of two frames."""
    name = row["path"]
    cv2.imwrite(str(results / f"flicker_{name}_raw_vs_refined.png"),
                strip(row["side_by_side"], [10, 40, 70, 100]))
    if row["truth"] is None:
        cv2.imwrite(str(results / f"flicker_{name}_warped_differences.png"),
                    warped_differences(*row["videos"], [41, 81]))
    by_frame = row["stats"]["warping_error_by_frame"]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(range(1, FRAMES), by_frame["raw"], label="raw render")
    ax.plot(range(1, FRAMES), by_frame["refined"], label="refined")
    ax.set_xlabel("frame")
    ax.set_ylabel("warping error")
    ax.set_title(f"{name}: flicker along a {FRAMES}-frame orbit")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results / f"flicker_{name}.png", dpi=100)
    plt.close(fig)


def report(rows: list[dict], args: argparse.Namespace) -> list[str]:
    lines = ["# Temporal refinement where raw renders flicker\n",
             f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} threads, no GPU. "
             f"Refine net: {args.refine_epochs} epochs"
             f"{' ' + ' '.join(args.opts) if args.opts else ''}. Paths: {FRAMES}-frame orbits. "
             f"sparse_2x: the demo fur ball with {args.sparse_points} points, trained at 128x128 "
             "(configs/demo.yml), rendered at 256x256; dense_2x: the same with the demo's 60000 "
             "points; capture: a real capture's trained run at its training size.\n",
             "Against the truth (the demo generator ray-traces the orbit): temporal error = mean "
             "|(x_t - x_{t-1}) - (g_t - g_{t-1})| over frames and RGB pixels (it counts the "
             "detail a render lacks as it moves); flicker error = the same after motion "
             "compensation, mean |(x_t - W x_{t-1}) - (g_t - W g_{t-1})| where W warps the "
             "previous frame by the truth's geometry, over the pixels seen in both frames "
             f"(depth within {WARP_TOLERANCE:.0%}): what changes from frame to frame that the "
             "truth does not. Reference: the truth blurred (Gaussian) to the raw render's PSNR, "
             "as sharp as the raw render and free of flicker. PSNR and SSIM against the truth "
             "frames. Warping error: the previous frame warped into each frame by the rendered "
             "depth, mean squared RGB difference over valid pixels (the refine net's own "
             "training measure; the only one where there is no truth).\n",
             "| path | size | flicker error vs truth: raw | refined | change | reference | "
             "temporal error vs truth: raw | refined | change | reference |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["truth"]
        if t is None:
            lines.append(f"| {r['path']} | {r['size']} | no truth | | | | | | | |")
            continue
        cells = []
        for key in ("flicker_error", "temporal_error"):
            raw, ref, blur = (t[v][key] for v in ("raw", "refined", "reference"))
            cells.append(f"{raw:.4f} | {ref:.4f} | {100 * (ref / raw - 1):+.0f}% | {blur:.4f}")
        lines.append(f"| {r['path']} | {r['size']} | {' | '.join(cells)} |")
    lines += ["", "| path | PSNR raw | refined | change | SSIM raw | refined | warping error raw "
              "| refined | change |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, t = r["stats"], r["truth"]
        warp = (f"{s['warping_error_raw']:.3g} | {s['warping_error_refined']:.3g} | "
                f"{100 * (s['warping_error_refined'] / s['warping_error_raw'] - 1):+.0f}%")
        if t is None:
            lines.append(f"| {r['path']} | no truth | | | | | {warp} |")
            continue
        raw, ref = t["raw"], t["refined"]
        lines.append(f"| {r['path']} | {raw['psnr']:.2f} | {ref['psnr']:.2f} | "
                     f"{ref['psnr'] - raw['psnr']:+.2f} dB | {raw['ssim']:.4f} | "
                     f"{ref['ssim']:.4f} | {warp} |")
    lines += ["", f"Non-learned baseline beside the refine net: temporal antialiasing, each frame "
              f"{TAA_CURRENT_WEIGHT:.0%} the render + {1 - TAA_CURRENT_WEIGHT:.0%} the previous "
              "output warped into it (the render alone where the warp is not valid), warped by "
              "the rendered depth (what the refine net sees), by a plane sweep (per pixel the "
              f"rendered depth or one of {SWEEP_PLANES} depths across its range, whichever warps "
              "the previous output closest to the render, 3x3 mean RGB difference) or by the "
              "truth's depth (what a perfect depth would give).", "",
              "| path | warped by | flicker error vs truth | change | PSNR | change | SSIM |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["truth"]
        if t is None:
            continue
        raw = t["raw"]
        for key, words in (("refined", "refine net (rendered depth)"),
                           ("taa_rendered_depth", "rendered depth"),
                           ("taa_plane_sweep", f"plane sweep ({SWEEP_PLANES} depths)"),
                           ("taa_true_depth", "the truth's depth")):
            v = t[key]
            lines.append(f"| {r['path']} | {words} | {v['flicker_error']:.4f} | "
                         f"{100 * (v['flicker_error'] / raw['flicker_error'] - 1):+.0f}% | "
                         f"{v['psnr']:.2f} | {v['psnr'] - raw['psnr']:+.2f} dB | "
                         f"{v['ssim']:.4f} |")
    lines += ["", "| path | refine net held-out PSNR raw | refined |", "|---|---|---|"]
    lines += [f"| {r['path']} | {r['heldout']['heldout_psnr_raw']:.2f} | "
              f"{r['heldout']['heldout_psnr_refined']:.2f} |" for r in rows]
    lines.append("\nTargets: flicker error against the truth -30% with PSNR not lower by more "
                 "than 0.1 dB on the generated paths; the capture orbit's side-by-side video "
                 "visibly steadier.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", nargs="+", default=[*DEMO_PATHS, "capture"],
                        choices=[*DEMO_PATHS, "capture"])
    parser.add_argument("--sparse-points", type=int, default=6000)
    parser.add_argument("--refine-epochs", type=int, default=10)
    parser.add_argument("--capture-run", default="output/bench_complete/monstree/run_after")
    parser.add_argument("--work", default="output/bench_flicker")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the videos already in --work again (no training, no render)")
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="REFINE.* overrides")
    args = parser.parse_args()
    rows = []
    for name in args.paths:
        row = bench_capture(args) if name == "capture" else bench_demo_path(name, args)
        if row is not None:
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k in ("path", "truth")}), flush=True)
    results = Path(args.out)
    results.mkdir(parents=True, exist_ok=True)
    for row in rows:
        pictures(row, results)
    lines = report(rows, args)
    (results / "flicker.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
