"""Image files and the intrinsics of resized images."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DataFormatError


def _decode(path: Path, flags: int) -> np.ndarray:
    """``cv2.imdecode`` of the file, refusing what does not decode and truncated JPEG and PNG files
    (OpenCV decodes those with the missing rows filled grey)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        raise DataFormatError(path, "image missing or not decodable") from None
    tail = data[-64:].tobytes().rstrip(b"\0")
    if data[:2].tobytes() == b"\xff\xd8" and not tail.endswith(b"\xff\xd9"):
        raise DataFormatError(path, "truncated JPEG (no end-of-image marker)")
    if data[:8].tobytes() == b"\x89PNG\r\n\x1a\n" and b"IEND" not in tail:
        raise DataFormatError(path, "truncated PNG (no IEND chunk)")
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise DataFormatError(path, "image missing or not decodable")
    return img


def read_image(path: Path, grey: bool = False) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3), or grey (H, W); a clear error if it does not decode."""
    img = _decode(path, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image_and_alpha(image_path: Path, alpha_path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """RGB (H, W, 3) and alpha (H, W) uint8: the separate matte, else an RGBA image's alpha, else 255."""
    if alpha_path is not None:
        return read_image(image_path), read_image(alpha_path, grey=True)
    img = _decode(image_path, cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:
        img = (img / np.iinfo(img.dtype).max * 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB), img[..., 3].copy()
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), np.full(img.shape[:2], 255, np.uint8)


def image_has_alpha(path: Path) -> bool:
    """Whether an image file has an alpha channel (PNG colour types 4 and 6; other formats none),
    read from its header."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 and head[25] in (4, 6)

