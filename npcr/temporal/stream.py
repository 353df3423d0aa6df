"""Refining frames in order, holding only the last NUM_PREV outputs (constant memory in the path
length), and measuring flicker as the warping error between consecutive frames."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from ..geometry import Cameras
from .net import TemporalRefiner
from .warp import warp_previous, warping_error


@dataclass
class View:
    """One frame: RGBA (B, 4, H, W), layer-0 depth (B, 1, H, W) (0 = empty), and its
    ``cameras`` (B, torch)."""
    rgba: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras


def warp_into(prev: View, cur: View, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``prev.rgba`` reprojected into ``cur``'s camera with ``cur``'s depth, and its validity."""
    return warp_previous(prev.rgba, prev.depth, cur.depth, cur.cameras, prev.cameras, tolerance)


def refine_view(refiner: TemporalRefiner, cur: View, history: list[View],
                tolerance: float) -> torch.Tensor:
    """Refined RGBA of ``cur`` given earlier outputs ``history`` (oldest first; the newest
    ``refiner.num_prev`` are used, missing ones count as invalid)."""
    recent = history[::-1][:refiner.num_prev]
    warped, valid = [], []
    for prev in recent:
        w, v = warp_into(prev, cur, tolerance)
        warped.append(w)
        valid.append(v)
    for _ in range(refiner.num_prev - len(recent)):
        warped.append(torch.zeros_like(cur.rgba))
        valid.append(torch.zeros_like(cur.depth))
    return refiner(cur.rgba, torch.stack(warped, 1), torch.stack(valid, 1))


class StreamingRefiner:
    """Feeds raw views one at a time, keeps the last ``num_prev`` refined ones, returns each
    refined RGBA."""

    def __init__(self, refiner: TemporalRefiner, tolerance: float):
        self.refiner, self.tolerance = refiner, tolerance
        self.history: deque[View] = deque(maxlen=refiner.num_prev)

    @torch.no_grad()
    def __call__(self, raw: View) -> torch.Tensor:
        out = refine_view(self.refiner, raw, list(self.history), self.tolerance)
        self.history.append(View(out, raw.depth, raw.cameras))
        return out


class FlickerMeter:
    """Mean warping error of a video (the previous frame warped into each frame by the rendered
    depth, squared difference over valid pixels, RGB premultiplied), fed frame by frame."""

    def __init__(self, tolerance: float):
        self.tolerance, self.previous, self.errors = tolerance, None, []

    def update(self, view: View) -> None:
        if self.previous is not None:
            warped, valid = warp_into(self.previous, view, self.tolerance)
            self.errors.append(warping_error(view.rgba[:, :3], warped[:, :3], valid))
        self.previous = view

    @property
    def value(self) -> float:
        return sum(self.errors) / len(self.errors) if self.errors else 0.0
