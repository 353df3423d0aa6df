"""Training augmentation that keeps image and camera consistent: random zoom, then random crop."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..geometry import intrinsics_for_size


def zoom_and_crop(img: np.ndarray, alpha: np.ndarray, K: np.ndarray,
                  zoom_range: tuple[float, float], crop: tuple[int, int],
                  generator: torch.Generator | None = None,
                  size: tuple[int, int] | None = None):
    """Scale the image by a factor drawn from ``zoom_range`` (K scaled with it), then cut a random
    ``crop`` (H, W) window (K's principal point shifted). Where the zoomed image is smaller than the
    crop it is padded with empty background (alpha 0). (0, 0) crops nothing. ``alpha`` may be
    (H, W) or (H, W, C): mattes and masks that follow the image. ``size`` (H, W) is the size the
    zoom factor applies to (default the image's own): a photo larger than that is resampled once,
    straight to the zoomed size, so that zoomed-in views keep the photo's own detail instead of
    an enlargement of a smaller copy."""
    h, w = img.shape[:2]
    base_h, base_w = size if size is not None else (h, w)
    lo, hi = zoom_range
    s = lo + (hi - lo) * float(torch.rand((), generator=generator)) if hi > lo else lo
    nh, nw = max(1, round(base_h * s)), max(1, round(base_w * s))
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if nh * nw < h * w else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
        alpha = cv2.resize(alpha, (nw, nh), interpolation=interp)
        K = intrinsics_for_size(K, (h, w), (nh, nw))
        h, w = nh, nw
    ch, cw = crop
    if ch <= 0 or cw <= 0:
        return img, alpha, K
    if h < ch or w < cw:  # pad bottom/right with background
        img = cv2.copyMakeBorder(img, 0, max(0, ch - h), 0, max(0, cw - w), cv2.BORDER_CONSTANT, 0)
        alpha = cv2.copyMakeBorder(alpha, 0, max(0, ch - h), 0, max(0, cw - w),
                                   cv2.BORDER_CONSTANT, 0)
        h, w = img.shape[:2]
    y0 = int(torch.randint(0, h - ch + 1, (), generator=generator))
    x0 = int(torch.randint(0, w - cw + 1, (), generator=generator))
    K = np.array(K, dtype=np.float64)
    K[0, 2] -= x0
    K[1, 2] -= y0
    return img[y0:y0 + ch, x0:x0 + cw], alpha[y0:y0 + ch, x0:x0 + cw], K
