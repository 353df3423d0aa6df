"""Decoded photos kept in memory for the datasets of one training run."""
from __future__ import annotations

import numpy as np

from .scene import Scene

Photo = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # Scene.read: RGB, alpha, valid mask


class PhotoCache:
    """``Scene.read`` of each photo, kept up to ``budget_mib`` MiB of arrays: a training step then
    crops its view from memory instead of decoding (and undistorting) the file again. Photos read
    once the budget is spent are read from their files every time; 0 keeps none. Callers must not
    write into the arrays it returns."""

    def __init__(self, scene: Scene, budget_mib: float):
        self.scene = scene
        self.budget = int(budget_mib * 2 ** 20)
        self.used = 0
        self.photos: dict[tuple[int, int], Photo] = {}

    def read(self, frame: int, camera: int) -> Photo:
        key = (frame, camera)
        if key in self.photos:
            return self.photos[key]
        photo = self.scene.read(frame, camera)
        size = sum(a.nbytes for a in photo if a is not None)
        if self.used + size <= self.budget:
            self.photos[key] = photo
            self.used += size
        return photo
