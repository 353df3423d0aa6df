"""Torch dataset over the cameras of one frame of a scene."""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError
from ..geometry import Cameras, intrinsics_for_size
from .augment import zoom_and_crop
from .images import read_image
from .photo_cache import PhotoCache
from .scene import Scene


class CameraImageDataset(Dataset):
    """Items: image (3, H, W), alpha (1, H, W) in [0, 1], K (3, 3), cam_to_world (4, 4), camera_id, frame.

    ``size`` (H, W) resizes images and scales intrinsics; (0, 0) keeps the images' size. All images of
    the frame must share one size. For training, ``zoom_range`` and ``crop`` add a random zoom and a
    random crop window per item (see ``zoom_and_crop``); the defaults leave images whole. Photos
    are read through ``photos`` when given (decoded once, kept in memory), else from their files.
    """

    def __init__(self, scene: Scene, camera_ids: list[int], frame: int = 0,
                 size: tuple[int, int] = (0, 0), zoom_range: tuple[float, float] = (1.0, 1.0),
                 crop: tuple[int, int] = (0, 0), photos: PhotoCache | None = None):
        self.scene, self.frame, self.camera_ids = scene, frame, list(camera_ids)
        self.photos = photos
        self.zoom_range, self.crop = tuple(zoom_range), tuple(crop)
        first_path = scene.image_path(frame, self.camera_ids[0])
        self.native_hw = read_image(first_path).shape[:2]
        self.size = tuple(size) if size[0] > 0 and size[1] > 0 else self.native_hw
        check_principal_points(scene, self.camera_ids, self.native_hw, first_path)

    def __len__(self) -> int:
        return len(self.camera_ids)

    def __getitem__(self, i: int) -> dict:
        return self.item(i)

    def item(self, i: int, generator: torch.Generator | None = None) -> dict:
        """Item ``i``; ``generator`` draws its zoom and crop (torch's global one when None).
        ``valid`` (1, H, W) is 0 where an undistorted photo has no source pixel (kept out of the
        loss), else 1."""
        cam = self.camera_ids[i]
        img, alpha, valid = (self.photos or self.scene).read(self.frame, cam)
        for path, im in ((self.scene.image_path(self.frame, cam), img),
                         (self.scene.alpha_path(self.frame, cam) or
                          self.scene.image_path(self.frame, cam), alpha)):
            if im.shape[:2] != self.native_hw:
                raise DataFormatError(path, f"size {im.shape[1]}x{im.shape[0]} differs from the "
                                      f"frame's {self.native_hw[1]}x{self.native_hw[0]}")
        # the valid mask rides along with alpha through resizing, zoom and crop; a pixel that mixes
        # in an invalid one is invalid. Without a matte, a crop's padding beyond the photo is
        # unknown (invalid); with one it is empty background (alpha 0).
        if valid is None and not self.scene.has_matte(self.frame, cam):
            valid = np.ones(alpha.shape, bool)
        masks = alpha if valid is None else np.dstack([alpha, valid.astype(np.uint8) * 255])
        K = self.scene.K[cam]
        if self.zoom_range != (1.0, 1.0) or min(self.crop) > 0:
            # zoomed straight from the photo: zoomed-in views keep its detail
            img, masks, K = zoom_and_crop(img, masks, K, self.zoom_range, self.crop, generator,
                                          size=self.size)
        elif self.size != self.native_hw:
            dsize = (self.size[1], self.size[0])
            img = cv2.resize(img, dsize, interpolation=cv2.INTER_AREA)
            masks = cv2.resize(masks, dsize, interpolation=cv2.INTER_AREA)
            K = intrinsics_for_size(K, self.native_hw, self.size)
        alpha = masks if masks.ndim == 2 else masks[..., 0]
        valid = np.ones(alpha.shape, np.float32) if masks.ndim == 2 else \
            (masks[..., 1] == 255).astype(np.float32)
        return {
            "image": torch.from_numpy(img).permute(2, 0, 1).float() / 255.0,
            "alpha": torch.from_numpy(alpha)[None].float() / 255.0,
            "valid": torch.from_numpy(valid)[None],
            "K": torch.from_numpy(np.asarray(K, dtype=np.float32)),
            "cam_to_world": torch.from_numpy(self.scene.cam_to_world[cam].astype(np.float32)),
            "camera_id": cam,
            "frame": self.frame,
        }


def item_cameras(item: dict, cam_to_world: torch.Tensor | None = None) -> Cameras:
    """The cameras of a dataset item or a batch of items, at their images' size (a single item
    gives a batch of one); ``cam_to_world`` replaces the item's poses (refined ones)."""
    K, c2w = item["K"], item["cam_to_world"] if cam_to_world is None else cam_to_world
    return Cameras(K[None] if K.ndim == 2 else K, c2w[None] if c2w.ndim == 2 else c2w,
                   *item["image"].shape[-2:])


def check_principal_points(scene: Scene, camera_ids: list[int], hw: tuple[int, int],
                           image_path) -> None:
    """Refuse intrinsics made for another image size: each camera's principal point must lie in
    the middle 80% of the (H, W) images (a photo resized without its intrinsics puts it at an
    edge or beyond)."""
    h, w = hw
    for cam in camera_ids:
        cx, cy = scene.K[cam][0, 2] + 0.5, scene.K[cam][1, 2] + 0.5
        if not (0.1 * w <= cx <= 0.9 * w and 0.1 * h <= cy <= 0.9 * h):
            raise DataFormatError(image_path, f"images are {w}x{h}, but camera {cam}'s principal "
                                  f"point ({cx - 0.5:.1f}, {cy - 0.5:.1f}) lies outside their "
                                  "middle 80%: the intrinsics are for another image size")


def split_cameras(num_cameras: int, val_cameras: list[int], select_cameras: list[int] = ()
                  ) -> tuple[list[int], list[int], list[int]]:
    """Training, held-out (DATASETS.VAL_CAMERAS) and selection (DATASETS.SELECT_CAMERAS) camera
    ids: the held-out and selection ids must exist and be apart; training takes the rest."""
    for key, ids in (("DATASETS.VAL_CAMERAS", val_cameras),
                     ("DATASETS.SELECT_CAMERAS", select_cameras)):
        bad = [c for c in ids if not 0 <= c < num_cameras]
        if bad:
            raise DataFormatError(key, f"camera ids {bad} outside 0..{num_cameras - 1}")
    val, select = sorted(set(val_cameras)), sorted(set(select_cameras))
    both = sorted(set(val) & set(select))
    if both:
        raise DataFormatError("DATASETS.SELECT_CAMERAS", f"cameras {both} are also in "
                              "DATASETS.VAL_CAMERAS: the two must be apart")
    train = [c for c in range(num_cameras) if c not in val and c not in select]
    if not train:
        raise DataFormatError("DATASETS.VAL_CAMERAS", "every camera is held out; none left to train")
    return train, val, select


def measured_cameras(num_cameras: int, val_cameras: list[int], select_cameras: list[int] = ()
                     ) -> list[int]:
    """The cameras held-out figures are taken on, and what training, rendering and evaluation
    default to: DATASETS.VAL_CAMERAS, or where none is held out the first training camera (its
    figures are then training figures, which the trainer warns about)."""
    train, val, _ = split_cameras(num_cameras, val_cameras, select_cameras)
    return val or train[:1]
