"""Streaming mp4 output: frames are encoded as they come (memory does not grow with the video),
into a temporary file renamed over the target only when the video is complete."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import NpcrError
from .fileio import atomic_path


class VideoWriter:
    """``write(rgb)`` appends an (H, W, 3) uint8 RGB frame; the first frame fixes the size."""

    def __init__(self, tmp_path: Path, final_path: Path, fps: int):
        self.tmp, self.final, self.fps, self.writer, self.count = tmp_path, final_path, fps, None, 0

    def write(self, rgb: np.ndarray) -> None:
        if self.writer is None:
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          (w, h))
            if not self.writer.isOpened():
                raise NpcrError(f"{self.final}: opencv cannot open an mp4 writer")
        self.writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


@contextlib.contextmanager
def open_video(path: str | Path, fps: int = 24) -> Iterator[VideoWriter]:
    """A ``VideoWriter`` for ``path``; the file appears only if the block ends without error and
    at least one frame was written."""
    path = Path(path)
    with atomic_path(path) as tmp:
        video = VideoWriter(tmp, path, fps)
        try:
            yield video
        finally:
            video.close()
        if video.count == 0:
            raise NpcrError(f"{path}: no frames to encode")
