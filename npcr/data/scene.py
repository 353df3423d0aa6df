"""The in-memory scene every reader produces and every writer and dataset consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .distortion import Distortion, undistort, undistortion_maps
from .images import read_image_and_alpha


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
    _maps: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_cameras(self) -> int:
        return self.cam_to_world.shape[0]

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
            return rgb, alpha, None
        key = (camera, rgb.shape[:2])
        if key not in self._maps:
            self._maps[key] = undistortion_maps(self.K[camera], dist, *rgb.shape[:2])
        maps = self._maps[key]
        return undistort(rgb, maps), undistort(alpha, maps), maps[2]

    def points(self, frame: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Point positions (N, 3) float32 and colours (N, 3) in [0, 1] or None of ``frame``."""
        from .native import read_points

        if frame in self.point_arrays:
            return self.point_arrays[frame]
        if frame in self.point_files:
            return read_points(self.point_files[frame])
        raise DataFormatError(self.source, f"no point cloud for frame {frame}")

    def check_files(self) -> None:
        """Every referenced image, matte and point file exists (error names the missing path)."""
        for path in [*self.images.values(), *self.alphas.values(), *self.point_files.values()]:
            if not Path(path).is_file():
                raise DataFormatError(path, "file missing")
