"""Dense points from posed photos (npcr.capture.densify): coarser stereo levels give back ground
whose texture is too fine to match at the finest level, and their depths are interpolated only
within one surface."""
import numpy as np
import pytest
import torch

from npcr.capture.densify import DensifyOptions, densify, upsample_depth
from npcr.data.box_scene import (arc_cameras, render_rects, surface_distance, yard_rects,
                                 yard_sky)
from npcr.geometry import pinhole


def test_upsample_depth_interpolates_inverse_depth_within_one_surface():
    depth = torch.tensor([[2.0, 2.0, 4.0], [2.0, 2.0, 4.0]])
    up = upsample_depth(depth, (4, 6))
    assert torch.equal(up[:, :3], torch.full((4, 3), 2.0))  # inside a flat block: its depth
    assert (up[:, 3:5] == 0).all()  # between 2 and 4: two surfaces, no depth
    assert torch.equal(up[:, 5], torch.full((4,), 4.0))
    ramp = upsample_depth(torch.tensor([[1.0, 2.0], [1.0, 2.0]]), (2, 4), spread=2.0)
    # fine pixel centres at coarse x = -0.25, 0.25, 0.75, 1.25 (clamped): inverse depth linear
    assert torch.allclose(ramp[0], 1 / torch.tensor([1.0, 0.75 + 0.25 / 2, 0.25 + 0.75 / 2, 0.5]))
    holed = torch.tensor([[2.0, 0.0], [2.0, 2.0]])
    assert (upsample_depth(holed, (4, 4))[:2, 2:] == 0).all()  # no depth next to a pixel without


@pytest.mark.slow
def test_coarse_levels_add_ground_points_on_the_ground():
    """The yard's ground (grain a pixel fine over faint patches) is largely missed at the finest
    level; the coarse levels add points, and those lie on the scene's surfaces, most on the
    ground."""
    h, w = 120, 160
    K = pinhole(h, w, 60.0)
    rects = yard_rects(0)
    cams = arc_cameras(8, radius=5.0, spread_deg=40.0, height=-0.6)
    photos = [render_rects(rects, K, c, h, w, sky=yard_sky) for c in cams]
    rng = np.random.default_rng(0)  # "sparse" points: only the depth range is read from them
    sparse = np.concatenate([r.origin + rng.random((200, 1)) * r.a + rng.random((200, 1)) * r.b
                             for r in rects[1:]] + [np.array([[0.0, 1.0, z] for z in (0, 2, 4)])])
    runs = {}
    for levels in (0, 1):
        xyz, colors, stats = densify(photos, [None] * len(photos), np.stack([K] * len(cams)),
                                     cams, sparse, DensifyOptions(max_size=160, coarse_levels=levels),
                                     progress=lambda _: None)
        runs[levels] = (xyz, stats)
    fine, coarse = runs[0][0], runs[1][0]
    added = runs[1][1]["fused_by_level"][1]
    assert runs[1][1]["fused_by_level"][0] == runs[0][1]["fused"] and added > 0
    assert len(coarse) > 1.1 * len(fine)
    on_ground = lambda p: np.abs(p[:, 1] - 1.0) < 0.05  # noqa: E731
    assert on_ground(coarse).sum() > 1.2 * on_ground(fine).sum()
    footprint = 5.0 / K[0, 0]  # a pixel at the box's distance
    assert np.median(surface_distance(rects, coarse)) < 2 * footprint
