"""Shared fixtures: small cameras and point sets for projector tests."""
import math

import numpy as np
import pytest
import torch

import pcpr_ext
from helpers import camera, intrinsics


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip where the CUDA kernel cannot run (no GPU, or not built)."""
    if "cuda" in pcpr_ext.backends():
        return
    skip = pytest.mark.skip(reason="no CUDA backend or GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def identity_camera():
    """A camera at the origin looking down +z with x right and y down (R = I)."""
    return torch.eye(4)[None]


@pytest.fixture
def random_scene():
    """Seeded random clouds and 3 cameras around them, with awkward points mixed in."""
    def make(n=400, batch=3, seed=0, size=(24, 32)):
        g = torch.Generator().manual_seed(seed)
        pts = torch.randn(n, 3, generator=g)
        # awkward points: duplicates, NaN/inf, far away, behind cameras
        pts[:10] = pts[10:20]
        pts[20] = float("nan")
        pts[21, 1] = float("inf")
        pts[22] = torch.tensor([0.0, 0.0, 500.0])
        cams = [camera(eye=(4 * math.cos(a), 1.0, 4 * math.sin(a)), up=(0, -1, 0))
                for a in np.linspace(0, 2 * np.pi, batch, endpoint=False)]
        K = torch.stack([intrinsics(f=14.0 + i, cx=size[1] / 2 - 0.5, cy=size[0] / 2 - 0.5)
                         for i in range(batch)])
        return pts, K, torch.stack(cams), size
    return make
