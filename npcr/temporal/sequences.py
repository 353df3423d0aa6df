"""Short camera sequences for training and testing the refine net: a few cameras that move
towards a photographed camera from the side of one of its neighbours, as a camera path would."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import CameraImageDataset
from ..geometry import interpolate_pose


def nearest_cameras(cam_to_world: np.ndarray, ids: list[int], candidates: list[int],
                    count: int) -> dict[int, list[int]]:
    """For each camera in ``ids``, the ``count`` cameras of ``candidates`` (itself excluded) whose
    centres are nearest."""
    centres = cam_to_world[:, :3, 3]
    table = {}
    for i in ids:
        others = [c for c in candidates if c != i]
        dist = np.linalg.norm(centres[others] - centres[i], axis=1)
        table[i] = [others[j] for j in np.argsort(dist, kind="stable")[:count]]
    return table


def approach_poses(target: np.ndarray, neighbour: np.ndarray, length: int,
                   step: float) -> np.ndarray:
    """(length, 4, 4) camera-to-world, oldest first: frame k before the last sits a fraction
    ``k * step`` of the way from ``target`` towards ``neighbour`` (past it when ``k * step > 1``);
    the last frame is ``target``."""
    return np.stack([interpolate_pose(target, neighbour, k * step)
                     for k in range(length - 1, -1, -1)])


class ApproachSequences(Dataset):
    """Keys ``(index, seed)`` (npcr.data.ResumableSampler) -> a sequence ending at camera
    ``images.camera_ids[index]``: its photo (``image``, ``alpha``), ``K`` (T, 3, 3) and
    ``cam_to_world`` (T, 4, 4). The seed picks the neighbour and the step in ``step_range``;
    ``step_range`` with equal ends gives fixed sequences (for evaluation)."""

    def __init__(self, images: CameraImageDataset, neighbours: dict[int, list[int]],
                 length: int, step_range: tuple[float, float]):
        self.images, self.neighbours = images, neighbours
        self.length, self.step_range = length, tuple(step_range)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        g = torch.Generator().manual_seed(seed)
        item = self.images.item(index)
        cam = item["camera_id"]
        options = self.neighbours[cam]
        neighbour = options[int(torch.randint(len(options), (), generator=g))]
        lo, hi = self.step_range
        step = lo + (hi - lo) * float(torch.rand((), generator=g))
        c2w = self.images.scene.cam_to_world
        poses = approach_poses(c2w[cam], c2w[neighbour], self.length, step)
        return {"image": item["image"], "alpha": item["alpha"],
                "K": item["K"][None].expand(self.length, 3, 3).clone(),
                "cam_to_world": torch.as_tensor(poses, dtype=torch.float32),
                "camera_id": cam, "frame": item["frame"]}
