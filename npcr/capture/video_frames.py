"""Photos from a video: frames at a chosen rate, the sharpest of each interval, blurry ones
dropped."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import DataFormatError
from ..fileio import write_image

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: low for blurred frames."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def extract_frames(video: Path, out: Path, fps: float, blur_ratio: float = 0.3,
                   progress: Callable[[str], None] = print) -> dict:
    """Write ``frame_%05d.png`` to ``out``: for each 1/``fps`` s of ``video`` its sharpest frame,
    dropping those less sharp than ``blur_ratio`` x the median. Returns counts."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise DataFormatError(video, "cannot open the video (unknown codec or not a video)")
    rate = cap.get(cv2.CAP_PROP_FPS) or 30.0
    step = max(1, round(rate / fps)) if fps > 0 else 1
    best: dict[int, tuple[float, np.ndarray]] = {}
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        slot, score = index // step, sharpness(frame)
        if slot not in best or score > best[slot][0]:
            best[slot] = (score, frame)
        index += 1
        if index % 200 == 0:
            progress(f"video: {index} frames read")
    cap.release()
    if not best:
        raise DataFormatError(video, "no frames could be decoded")
    median = float(np.median([s for s, _ in best.values()]))
    kept = [frame for _, (s, frame) in sorted(best.items()) if s >= blur_ratio * median]
    out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(kept):
        write_image(out / f"frame_{i:05d}.png", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return {"video_frames": index, "sampled": len(best), "kept": len(kept)}
