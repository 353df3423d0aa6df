"""Photos of a capture: listing them, one orientation and one size for all, and the cameras that
go with a rotated or resized photo."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from ..geometry import intrinsics_for_size

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# cv2.ROTATE_90_CLOCKWISE as a change of camera axes: new x = -old y, new y = old x
_CW_AXES = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def list_photos(folder: Path) -> list[Path]:
    """The photo files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS)


def majority_portrait(sizes: list[tuple[int, int]]) -> bool:
    """Whether most of the (H, W) ``sizes`` are portrait (taller than wide); ties: landscape."""
    votes = Counter(h > w for h, w in sizes)
    return votes[True] > votes[False]


def output_size(sizes: list[tuple[int, int]], max_size: int) -> tuple[int, int]:
    """(H, W) every photo is written at: the most common size once turned to the majority
    orientation, its longest side scaled down to ``max_size`` (0: kept)."""
    portrait = majority_portrait(sizes)
    turned = [(h, w) if (h > w) == portrait or h == w else (w, h) for h, w in sizes]
    h, w = Counter(turned).most_common(1)[0][0]
    scale = min(1.0, max_size / max(h, w)) if max_size > 0 else 1.0
    return max(1, round(h * scale)), max(1, round(w * scale))


def needs_turn(hw: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether a photo of ``hw`` is in the other orientation than ``size``."""
    return hw[0] != hw[1] and size[0] != size[1] and (hw[0] > hw[1]) != (size[0] > size[1])


def turn_clockwise(image: np.ndarray, K: np.ndarray | None = None,
                   cam_to_world: np.ndarray | None = None):
    """``image`` rotated 90 degrees clockwise, and the pinhole K and camera-to-world that see it
    (same centre, rolled about the optical axis). Returns (image, K, cam_to_world)."""
    h = image.shape[0]
    out = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if K is None:
        return out, None, None
    K2 = np.array([[K[1, 1], 0.0, h - 1 - K[1, 2]], [0.0, K[0, 0], K[0, 2]], [0.0, 0.0, 1.0]])
    c2w = np.array(cam_to_world, dtype=np.float64)
    c2w[:3, :3] = c2w[:3, :3] @ _CW_AXES
    return out, K2, c2w


def fit_photo(image: np.ndarray, size: tuple[int, int], K: np.ndarray | None = None,
              cam_to_world: np.ndarray | None = None, interpolation: int = cv2.INTER_AREA):
    """``image`` turned to ``size``'s orientation and resized to it, with its camera (when
    given). Returns (image, K, cam_to_world)."""
    if needs_turn(image.shape[:2], size):
        image, K, cam_to_world = turn_clockwise(image, K, cam_to_world)
    if image.shape[:2] != tuple(size):
        if K is not None:
            K = intrinsics_for_size(K, image.shape[:2], size)
        image = cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
    return image, K, cam_to_world
