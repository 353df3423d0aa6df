"""The in-memory scene every reader produces and every writer and dataset consumes."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ..geometry import Cameras
from .distortion import Distortion, undistort, undistortion_maps
from .images import image_has_alpha, read_image, read_image_and_alpha


def check_intrinsics(K: np.ndarray, where: str | Path, what: str,
                     size: tuple[int, int] | None = None) -> None:
    """Refuse degenerate pinhole intrinsics (3, 3): a focal length that is not a positive finite
    number, or with the image ``size`` (height, width), a principal point more than an image
    size outside the image (intrinsics of another image, or garbage). ``what`` names the camera."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if not np.isfinite(K).all() or not (fx > 0 and fy > 0):
        raise DataFormatError(where, f"{what}: focal length fx {fx:g}, fy {fy:g}: must be finite "
                              f"and > 0")
    if size is not None:
        h, w = size
        if not (-w <= cx <= 2 * w and -h <= cy <= 2 * h):
            raise DataFormatError(where, f"{what}: principal point ({cx:g}, {cy:g}) lies far "
                                  f"outside its {w}x{h} image")


@dataclass
class Scene:
    """Cameras, frames, image files and point clouds of one capture, whatever format it came in.

    Cameras use OpenCV axes (x right, y down, z forward) and pixel centres at integer coordinates.
    """

    source: Path
    cam_to_world: np.ndarray  # (M, 4, 4)
    K: np.ndarray  # (M, 3, 3)
    frames: list[int]
    images: dict[tuple[int, int], Path]  # (frame, camera) -> RGB or RGBA image
    alphas: dict[tuple[int, int], Path] = field(default_factory=dict)  # separate mattes, if any
    point_files: dict[int, Path] = field(default_factory=dict)  # frame -> point cloud file
    point_arrays: dict[int, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    # an optional camera path for rendering a video: (P, 4, 4) camera-to-world and (P, 3, 3) K
    render_path: tuple[np.ndarray, np.ndarray] | None = None
    # camera -> its lens distortion; photos of these cameras are undistorted on reading (``read``)
    distortion: dict[int, Distortion] = field(default_factory=dict)
    # (frame, camera) -> mask of the pixels a photo holds (255) or lacks (0: no source when it was
    # undistorted; kept out of the loss), for photos undistorted before they were written
    valid_masks: dict[tuple[int, int], Path] = field(default_factory=dict)
    _maps: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for cam, k in enumerate(self.K):  # every reader's cameras, whatever the format
            check_intrinsics(k, self.source, f"camera {cam}")

    @property
    def num_cameras(self) -> int:
        return self.cam_to_world.shape[0]

    def cameras(self, frame: int = 0) -> Cameras:
        """Every camera at the size of the photos of ``frame`` (camera 0's photo is read; the
        photos of a frame share their size)."""
        height, width = read_image(self.image_path(frame, 0)).shape[:2]
        return Cameras(self.K, self.cam_to_world, height, width)

    def image_path(self, frame: int, camera: int) -> Path:
        try:
            return self.images[(frame, camera)]
        except KeyError:
            raise DataFormatError(self.source, f"no image of camera {camera} at frame {frame}") \
                from None

    def alpha_path(self, frame: int, camera: int) -> Path | None:
        """The separate alpha matte, or None (alpha then comes from an RGBA image, else opaque)."""
        return self.alphas.get((frame, camera))

    def read(self, frame: int, camera: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """RGB (H, W, 3) and alpha (H, W) uint8 of one photo, made pinhole (same K, same size) when
        its camera has a lens distortion, and then the mask of pixels the photo covers (else None:
        all valid)."""
        rgb, alpha = read_image_and_alpha(self.image_path(frame, camera),
                                          self.alpha_path(frame, camera))
        dist = self.distortion.get(camera)
        if dist is None or dist.is_zero:
            mask = self.valid_masks.get((frame, camera))
            return rgb, alpha, None if mask is None else read_image(mask, grey=True) > 127
        key = (camera, rgb.shape[:2])
        if key not in self._maps:
            self._maps[key] = undistortion_maps(self.K[camera], dist, *rgb.shape[:2])
        maps = self._maps[key]
        return undistort(rgb, maps), undistort(alpha, maps), maps[2]

    def has_matte(self, frame: int, camera: int) -> bool:
        """Whether the photo comes with an alpha matte (a separate file or an alpha channel);
        photos without one are opaque and train on RGB alone."""
        return self.alpha_path(frame, camera) is not None or \
            image_has_alpha(self.image_path(frame, camera))

    def points(self, frame: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Point positions (N, 3) float32 and colours (N, 3) in [0, 1] or None of ``frame``."""
        from .npcr_layout import read_points

        if frame in self.point_arrays:
            return self.point_arrays[frame]
        if frame in self.point_files:
            return read_points(self.point_files[frame])
        raise DataFormatError(self.source, f"no point cloud for frame {frame}")

    def missing_photos(self) -> list[tuple[int, int]]:
        """(frame, camera) of every photo whose image, matte or mask file is missing."""
        return sorted(key for key in self.images
                      if not all(Path(table[key]).is_file() for table in
                                 (self.images, self.alphas, self.valid_masks) if key in table))

    def check_files(self) -> None:
        """Every referenced image, matte, mask and point file exists; the error counts the
        missing photos and names the first few."""
        missing = self.missing_photos()
        if missing:
            first = [str(p) for key in missing[:3] for table in (self.images, self.alphas,
                     self.valid_masks) if key in table and not Path(p := table[key]).is_file()]
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DataFormatError(self.source, f"{len(missing)} of {len(self.images)} photos have "
                                  f"missing files: {', '.join(first[:3])}{more}")
        for path in self.point_files.values():
            if not Path(path).is_file():
                raise DataFormatError(path, "file missing")

    def without_cameras(self, cameras: set[int]) -> "Scene":
        """The scene with ``cameras`` removed, the others renumbered in their order."""
        keep = [c for c in range(self.num_cameras) if c not in cameras]
        new = {old: i for i, old in enumerate(keep)}

        def remap(table: dict) -> dict:
            return {(f, new[c]): v for (f, c), v in table.items() if c in new}

        return replace(self, cam_to_world=self.cam_to_world[keep], K=self.K[keep],
                       images=remap(self.images), alphas=remap(self.alphas),
                       valid_masks=remap(self.valid_masks),
                       distortion={new[c]: d for c, d in self.distortion.items() if c in new},
                       _maps={})
