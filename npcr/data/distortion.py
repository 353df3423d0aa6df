"""Lens distortion: photos taken through a real lens, made pinhole on load.

A distorted photo is resampled (OpenCV's undistortion maps, bilinear) into a pinhole photo with the
**same** intrinsics K and the same size: nothing is cropped, and pixels whose source lies outside the
photo are marked invalid (kept out of the training loss). K uses npcr's convention, pixel centres at
integer coordinates, as OpenCV's does.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import DataFormatError

# Coefficient names per model, in the order OpenCV takes them.
OPENCV_ORDER = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")
FISHEYE_ORDER = ("k1", "k2", "k3", "k4")


@dataclass(frozen=True)
class Distortion:
    """``fisheye`` False: OpenCV's radial-tangential model, ``coeffs`` = (k1, k2, p1, p2[, k3[, k4,
    k5, k6]]); True: OpenCV's fisheye model, ``coeffs`` = (k1, k2, k3, k4)."""

    coeffs: tuple[float, ...]
    fisheye: bool = False

    @property
    def is_zero(self) -> bool:
        return not any(self.coeffs)

    @classmethod
    def from_named(cls, values: dict[str, float], fisheye: bool, where) -> "Distortion":
        """From named coefficients (missing ones are 0); refuses a coefficient the model lacks
        (e.g. p1 for a fisheye)."""
        order = FISHEYE_ORDER if fisheye else OPENCV_ORDER
        extra = sorted(k for k, v in values.items() if k not in order and v)
        if extra:
            model = "OPENCV_FISHEYE" if fisheye else "OPENCV"
            raise DataFormatError(where, f"{model} has no coefficient {', '.join(extra)}")
        coeffs = [float(values.get(k, 0.0)) for k in order]
        if not all(np.isfinite(coeffs)):
            raise DataFormatError(where, f"non-finite distortion coefficients {coeffs}")
        while not fisheye and len(coeffs) > 4 and coeffs[-1] == 0:  # shortest form OpenCV takes
            coeffs.pop()
        if len(coeffs) in (6, 7):
            coeffs += [0.0] * (8 - len(coeffs))
        return cls(tuple(coeffs), fisheye)


def undistortion_maps(K: np.ndarray, dist: Distortion, height: int,
                      width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pinhole pixel, where to sample the photo: x map, y map (float32, (H, W)) and
    whether that lies inside the photo (bool)."""
    K = np.asarray(K, dtype=np.float64)
    D = np.asarray(dist.coeffs, dtype=np.float64)
    if dist.fisheye:
        mx, my = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), K, (width, height),
                                                     cv2.CV_32FC1)
    else:
        mx, my = cv2.initUndistortRectifyMap(K, D, None, K, (width, height), cv2.CV_32FC1)
    valid = (mx >= 0) & (mx <= width - 1) & (my >= 0) & (my <= height - 1)
    return mx, my, valid


def undistort(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """``image`` (H, W[, C]) resampled through ``undistortion_maps``; invalid pixels are 0."""
    mx, my, valid = maps
    out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out[~valid] = 0
    return out
