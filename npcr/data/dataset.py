"""Torch dataset over the cameras of one frame of a native-layout scene."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError
from .scene import Scene


def read_image(path: Path, grey: bool = False) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3), or grey (H, W); a clear error if it does not decode."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        raise DataFormatError(path, "image missing or not decodable")
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image_and_alpha(image_path: Path, alpha_path: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """RGB (H, W, 3) and alpha (H, W) uint8: the separate matte, else an RGBA image's alpha, else 255."""
    if alpha_path is not None:
        return read_image(image_path), read_image(alpha_path, grey=True)
    img = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataFormatError(image_path, "image missing or not decodable")
    if img.dtype != np.uint8:
        img = (img / np.iinfo(img.dtype).max * 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB), img[..., 3].copy()
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), np.full(img.shape[:2], 255, np.uint8)


def scale_intrinsics(K: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics for an image resized from ``src_hw`` to ``dst_hw`` (pixel centres at integers)."""
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    K = np.array(K, dtype=np.float64)
    K[0, :] *= sx
    K[1, :] *= sy
    K[0, 2] += 0.5 * sx - 0.5
    K[1, 2] += 0.5 * sy - 0.5
    K[2] = (0, 0, 1)
    return K


class CameraImageDataset(Dataset):
    """Items: image (3, H, W) and alpha (1, H, W) in [0, 1], K (3, 3), cam_to_world (4, 4), camera_id.

    ``size`` (H, W) resizes images and scales intrinsics; (0, 0) keeps the images' size. All images of
    the frame must share one size.
    """

    def __init__(self, scene: Scene, camera_ids: list[int], frame: int = 0,
                 size: tuple[int, int] = (0, 0)):
        self.scene, self.frame, self.camera_ids = scene, frame, list(camera_ids)
        first = read_image(scene.image_path(frame, self.camera_ids[0]))
        self.native_hw = first.shape[:2]
        self.size = tuple(size) if size[0] > 0 and size[1] > 0 else self.native_hw

    def __len__(self) -> int:
        return len(self.camera_ids)

    def __getitem__(self, i: int) -> dict:
        cam = self.camera_ids[i]
        img_path = self.scene.image_path(self.frame, cam)
        alpha_path = self.scene.alpha_path(self.frame, cam)
        img, alpha = read_image_and_alpha(img_path, alpha_path)
        for path, im in ((img_path, img), (alpha_path or img_path, alpha)):
            if im.shape[:2] != self.native_hw:
                raise DataFormatError(path, f"size {im.shape[1]}x{im.shape[0]} differs from the "
                                      f"frame's {self.native_hw[1]}x{self.native_hw[0]}")
        K = self.scene.K[cam]
        if self.size != self.native_hw:
            dsize = (self.size[1], self.size[0])
            img = cv2.resize(img, dsize, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, dsize, interpolation=cv2.INTER_AREA)
            K = scale_intrinsics(K, self.native_hw, self.size)
        return {
            "image": torch.from_numpy(img).permute(2, 0, 1).float() / 255.0,
            "alpha": torch.from_numpy(alpha)[None].float() / 255.0,
            "K": torch.from_numpy(np.asarray(K, dtype=np.float32)),
            "cam_to_world": torch.from_numpy(self.scene.cam_to_world[cam].astype(np.float32)),
            "camera_id": cam,
        }


def split_cameras(num_cameras: int, val_cameras: list[int]) -> tuple[list[int], list[int]]:
    """Train and validation camera ids; validation ids must exist."""
    bad = [c for c in val_cameras if not 0 <= c < num_cameras]
    if bad:
        raise DataFormatError("DATASETS.VAL_CAMERAS", f"camera ids {bad} outside 0..{num_cameras - 1}")
    val = sorted(set(val_cameras))
    train = [c for c in range(num_cameras) if c not in val]
    if not train:
        raise DataFormatError("DATASETS.VAL_CAMERAS", "every camera is held out; none left to train")
    return train, val
