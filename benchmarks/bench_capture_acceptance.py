#!/usr/bin/env python3
"""The real-capture acceptance run, timed: a nerfstudio-layout capture (transforms.json, photos with
OpenCV lens distortion k1 k2 p1 p2, no point cloud, no mattes) through the three commands a user
types, then how close the held-out renders come to the held-out photos:

    tools/process_capture.py IN OUT
    tools/train.py --config configs/capture.yml DATASETS.ROOT OUT OUTPUT_DIR RUN INPUT.SIZE "(256, 192)" ...
    tools/render.py --output-dir RUN --size 256 192

The capture is made from a processed real capture (a native scene of undistorted photos and SfM
poses, e.g. ``output/bench_capture/sparse`` that bench_capture.py writes): each photo is distorted
through a known lens and written as a JPEG beside a transforms.json with the poses. The undistorted
photos process_capture writes are compared with OpenCV's ``cv2.undistort`` of the distorted ones
(same K) and with the photos before distortion. Writes ``capture_acceptance_<device>.md`` and
``.jpg`` (held-out photo | render) to --out.

    python benchmarks/bench_capture_acceptance.py --scene output/bench_capture/sparse
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from npcr.cli import results_folder
from npcr.data.formats import load_scene_from
from npcr.data.transforms import GL_TO_CV
from npcr.metrics import psnr_from_mse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_projection import machine  # noqa: E402

# a phone's wide lens: barrel distortion and a slightly tilted sensor
LENS = {"k1": -0.08, "k2": 0.02, "p1": 0.0005, "p2": -0.0005}


def distort_photo(photo: np.ndarray, K: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """The photo a lens with OpenCV ``coeffs`` would have taken of the pinhole ``photo`` (same K):
    each distorted pixel looks up the pinhole pixel its ray goes through."""
    h, w = photo.shape[:2]
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pixels = np.stack([u.ravel(), v.ravel()], -1)[:, None]
    rays = cv2.undistortPoints(pixels, K, coeffs).reshape(-1, 2)
    map_x = (K[0, 0] * rays[:, 0] + K[0, 2]).reshape(h, w).astype(np.float32)
    map_y = (K[1, 1] * rays[:, 1] + K[1, 2]).reshape(h, w).astype(np.float32)
    return cv2.remap(photo, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def make_capture(scene_dir: Path, out: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """transforms.json + distorted JPEGs in ``out`` from the native scene; returns K (one for
    all photos) and the pinhole photos (BGR) before distortion."""
    scene = load_scene_from(scene_dir)
    K = scene.K[0]
    if not np.allclose(scene.K, K):
        sys.exit(f"{scene_dir}: the photos have different intrinsics; one K is needed here")
    coeffs = np.array([LENS["k1"], LENS["k2"], LENS["p1"], LENS["p2"]])
    (out / "images").mkdir(parents=True)
    frames, pinhole = [], []
    for cam in range(scene.num_cameras):
        rgb, _, _ = scene.read(0, cam)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        pinhole.append(bgr)
        name = f"images/frame_{cam:05d}.jpg"
        cv2.imwrite(str(out / name), distort_photo(bgr, K, coeffs), [cv2.IMWRITE_JPEG_QUALITY, 95])
        frames.append({"file_path": name,
                       "transform_matrix": (scene.cam_to_world[cam] @ GL_TO_CV).tolist()})
    h, w = pinhole[0].shape[:2]
    meta = {"camera_model": "OPENCV", "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2] + 0.5,
            "cy": K[1, 2] + 0.5, "w": w, "h": h, **LENS, "frames": frames}
    (out / "transforms.json").write_text(json.dumps(meta, indent=1))
    return K, pinhole


def timed(*args) -> float:
    """Run a tool (its output streamed) and return its seconds; stops the benchmark on failure."""
    print("$", " ".join(map(str, args)), flush=True)
    start = time.perf_counter()
    if subprocess.run([sys.executable, *map(str, args)]).returncode:
        sys.exit(f"{args[0]} failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="output/bench_capture/sparse",
                        help="native scene of undistorted photos with poses")
    parser.add_argument("--work", default="output/bench_capture_acceptance")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    args = parser.parse_args()
    work = Path(args.work)
    if work.exists():  # only a folder this benchmark made before is replaced
        if not (work / "capture" / "transforms.json").is_file():
            sys.exit(f"{work} exists and is not this benchmark's: give another --work")
        shutil.rmtree(work)
    capture, scene, run = work / "capture", work / "scene", work / "run"
    K, pinhole = make_capture(Path(args.scene), capture)
    n = len(pinhole)
    val = list(range(0, n, 6))
    h, w = args.size
    seconds = {
        "process_capture": timed("tools/process_capture.py", capture, scene, "--max-size",
                                 max(pinhole[0].shape[:2])),
        "train": timed("tools/train.py", "--config", "configs/capture.yml", "DATASETS.ROOT", scene,
                       "OUTPUT_DIR", run, "INPUT.SIZE", f"({h}, {w})",
                       "DATASETS.VAL_CAMERAS", str(val)),
        "render": timed("tools/render.py", "--output-dir", run, "--size", h, w,
                        "--out", work / "render")}

    # undistortion: against OpenCV's with the same K, and against the photos before distortion
    coeffs = np.array([LENS[k] for k in ("k1", "k2", "p1", "p2")])
    to_opencv, to_pinhole, valid_share = [], [], []
    for cam in range(n):
        ours = cv2.imread(str(scene / "img" / "0" / f"img_{cam:04d}.png")).astype(float)
        valid_file = scene / "img" / "0" / f"img_{cam:04d}_valid.png"
        valid = cv2.imread(str(valid_file), 0) == 255 if valid_file.is_file() else \
            np.ones(ours.shape[:2], bool)
        inner = cv2.erode(valid.astype(np.uint8), np.ones((5, 5))) > 0
        inner &= pinhole[cam].max(-1) > 0  # the photo before distortion had a source there
        distorted = cv2.imread(str(capture / "images" / f"frame_{cam:05d}.jpg"))
        opencv = cv2.undistort(distorted, K, coeffs, None, K).astype(float)
        to_opencv.append(np.abs(ours - opencv)[inner].mean())
        to_pinhole.append(np.abs(ours - pinhole[cam])[inner].mean())
        valid_share.append(valid.mean())

    metrics = json.loads((run / "metrics.json").read_text())
    frames = sorted((work / "render").glob("frame_*.png"))
    tiles, psnrs = [], []
    for cam, frame in zip(val, frames):
        photo = cv2.resize(cv2.imread(str(scene / "img" / "0" / f"img_{cam:04d}.png")), (w, h),
                           interpolation=cv2.INTER_AREA)
        render = cv2.imread(str(frame))
        psnrs.append(psnr_from_mse(float(np.mean((photo / 255.0 - render / 255.0) ** 2))))
        tiles.append(np.hstack([photo, render]))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    device = metrics["device"].split(":")[0]
    picture = Path(args.out) / f"capture_acceptance_{device}.jpg"
    cv2.imwrite(str(picture), np.hstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, 90])
    total = sum(seconds.values())
    summary = json.loads((scene / "capture.json").read_text())
    lines = [
        "# Real-capture acceptance run (benchmarks/bench_capture_acceptance.py)\n",
        f"Machine: {machine()}. Capture: the {n} photos of `{args.scene}` ({pinhole[0].shape[1]}x"
        f"{pinhole[0].shape[0]}, portrait) distorted through an OpenCV lens {LENS} and written as "
        "JPEGs with a transforms.json (camera_model OPENCV, the SfM poses); no point cloud, no "
        f"mattes. Held out: cameras {val}; training with configs/capture.yml at {h}x{w} "
        f"({metrics['epoch']} epochs).\n",
        "| step | seconds |", "|---|---:|",
        *[f"| {k} | {v:.0f} |" for k, v in seconds.items()],
        f"| **all three commands** | **{total:.0f}** ({total / 60:.1f} min; limit 30 min) |\n",
        f"process_capture: {summary.get('undistorted', 0)} photos undistorted, "
        f"{summary.get('points', '?')} points from {summary.get('points_from', '?')}.\n",
        "Undistortion (mean absolute difference in 8-bit levels over the pixels with a source; "
        f"each photo has one for at least {100 * min(valid_share):.1f}% of its pixels): against "
        "`cv2.undistort` with the "
        f"same K {np.mean(to_opencv):.2f} (largest {max(to_opencv):.2f}); against the photos "
        f"before distortion {np.mean(to_pinhole):.2f} (largest {max(to_pinhole):.2f}; JPEG and two "
        "resamplings).\n",
        f"Held-out PSNR (last epoch, the trainer's): **{metrics['heldout_psnr']:.2f} dB**; the "
        f"rendered frames of tools/render.py against the photos: {np.mean(psnrs):.2f} dB. Baselines "
        f"on the same views: point-colour splat {metrics['point_colour_splat_psnr']:.2f} dB, mean "
        f"colour {metrics['mean_colour_psnr']:.2f} dB.\n",
        f"![held-out photo | render]({picture.name})\n"]
    report = Path(args.out) / f"capture_acceptance_{device}.md"
    report.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
