"""Reprojection of earlier frames on analytic scenes where the right answer is known."""
import math

import numpy as np
import torch

from npcr.config import get_cfg_defaults
from npcr.geometry import Cameras, look_at, pinhole
from npcr.temporal.warp import unproject, warp_previous, warping_error

H = W = 48
TOLERANCE = get_cfg_defaults().REFINE.DEPTH_TOLERANCE


def cam(eye, target=(0.0, 0.0, 6.0)):
    return torch.tensor(look_at(eye, target, (0.0, -1.0, 0.0)), dtype=torch.float64)[None]


K = torch.tensor(pinhole(H, W, 50.0), dtype=torch.float64)[None]


def rays(c2w):
    """World ray directions (3, H, W), scaled so that camera z = 1."""
    world = unproject(torch.ones(1, 1, H, W, dtype=torch.float64), Cameras(K, c2w, H, W))[0].permute(2, 0, 1)
    return world - c2w[0, :3, 3, None, None]


def render(c2w, occluder=None):
    """Depth (1, 1, H, W) and colour (1, 3, H, W) of the plane z = 6 (world) painted with a smooth
    pattern, optionally in front of it the square |x|, |y| < occluder at z = 3 (painted black)."""
    o, d = c2w[0, :3, 3, None, None], rays(c2w)
    t_plane = (6.0 - o[2]) / d[2]
    depth = t_plane.clone()
    hit = o + t_plane * d
    colour = torch.stack([0.5 + 0.4 * torch.sin(2 * hit[0]), 0.5 + 0.4 * torch.cos(2 * hit[1]),
                          0.5 + 0.2 * torch.sin(hit[0] + hit[1])])
    if occluder is not None:
        t_occ = (3.0 - o[2]) / d[2]
        p = o + t_occ * d
        front = (p[0].abs() < occluder) & (p[1].abs() < occluder)
        depth = torch.where(front, t_occ, depth)
        colour = torch.where(front, torch.zeros_like(colour), colour)
    return depth[None, None], colour[None]


def near_edge(img):
    """Pixels within one pixel of a change of ``img`` (H, W)."""
    img = img[None, None]
    pool = torch.nn.functional.max_pool2d
    return (pool(img, 3, 1, 1) + pool(-img, 3, 1, 1))[0, 0] > 1e-6


def check_against_truth(cur_cam, prev_cam, atol):
    depth, truth = render(cur_cam)
    prev_depth, prev = render(prev_cam)
    warped, valid = warp_previous(prev, prev_depth, depth, Cameras(K, cur_cam, H, W), Cameras(K, prev_cam, H, W),
                                  TOLERANCE)
    assert valid.mean() > 0.6  # most of the view is seen by both cameras
    err = ((warped - truth).abs() * valid).max()
    assert err < atol, float(err)
    return valid


def test_identity_warp_returns_the_frame():
    c = cam((0.0, 0.0, 0.0))
    depth, img = render(c)
    warped, valid = warp_previous(img, depth, depth, Cameras(K, c, H, W), Cameras(K, c, H, W), TOLERANCE)
    assert valid.all() and torch.allclose(warped, img, atol=1e-9)
    assert warping_error(img, warped, valid) < 1e-18


def test_pure_rotation():
    cur = cam((0.0, 0.0, 0.0))
    yaw = math.radians(4)
    prev = cam((0.0, 0.0, 0.0), target=(6 * math.sin(yaw), 0.0, 6 * math.cos(yaw)))
    valid = check_against_truth(cur, prev, atol=0.006)
    # the previous camera looked 4 degrees to the side: the current view's far edge was unseen
    assert valid[..., :, -2:].sum() == 0 or valid[..., :, :2].sum() == 0


def test_pure_translation():
    check_against_truth(cam((0.0, 0.0, 0.0)), cam((0.3, -0.2, 0.0)), atol=0.006)
    check_against_truth(cam((0.0, 0.0, 0.0)), cam((0.0, 0.0, -0.5)), atol=0.006)


def test_occluded_pixels_are_masked():
    cur_cam, prev_cam = cam((0.0, 0.0, 0.0)), cam((0.8, 0.0, 0.0))
    depth, truth = render(cur_cam, occluder=0.6)
    prev_depth, prev = render(prev_cam, occluder=0.6)
    warped, valid = warp_previous(prev, prev_depth, depth, Cameras(K, cur_cam, H, W), Cameras(K, prev_cam, H, W),
                                  TOLERANCE)
    # Truth: a background pixel was hidden before when the segment from the previous camera's
    # centre to its surface point crosses the occluder square at z = 3.
    X = unproject(depth, Cameras(K, cur_cam, H, W))[0].permute(2, 0, 1)
    o = prev_cam[0, :3, 3, None, None]
    s = (3.0 - o[2]) / (X[2] - o[2])
    p = o + s * (X - o)
    hidden = (depth[0, 0] > 4) & (p[0].abs() < 0.6) & (p[1].abs() < 0.6)
    assert hidden.sum() > 20  # the test scene really has a disoccluded band
    interior = ~near_edge(hidden.double()) & ~near_edge(depth[0, 0])  # 1 pixel from any edge
    assert (valid[0, 0][hidden & interior] == 0).all()
    seen = ~hidden & interior & (valid[0, 0] > 0)
    assert seen.sum() > 0.5 * H * W
    assert ((warped - truth).abs()[0].amax(0)[seen]).max() < 0.03


def test_warping_error_measures_disagreement():
    c = cam((0.0, 0.0, 0.0))
    depth, img = render(c)
    valid = torch.ones_like(depth)
    assert np.isclose(warping_error(img, img + 0.1, valid), 0.01)
    assert warping_error(img, img + 0.1, torch.zeros_like(depth)) == 0.0


def test_inside_check_on_a_wide_image():
    """A wide previous image (W > H): points landing right of its height but inside its width are
    valid, points beyond its width are not (a swapped width and height would get both wrong)."""
    h, w = 20, 60
    Kw = torch.tensor(pinhole(h, w, 60.0), dtype=torch.float64)[None]
    c = cam((0.0, 0.0, 0.0))
    depth = torch.full((1, 1, h, w), 6.0, dtype=torch.float64)
    prev = torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)
    warped, valid = warp_previous(prev, depth, depth, Cameras(Kw, c, h, w), Cameras(Kw, c, h, w), TOLERANCE)
    assert valid.all() and torch.allclose(warped, prev)
    moved = cam((1.0, 0.0, 0.0), target=(1.0, 0.0, 6.0))  # the previous camera slid right
    warped, valid = warp_previous(prev, depth, depth, Cameras(Kw, c, h, w), Cameras(Kw, moved, h, w),
                                  TOLERANCE)
    cols = valid[0, 0].any(0)
    # a slide of 1 at depth 6 shifts by fx / 6 pixels: the left columns fall off the old image
    shift = float(Kw[0, 0, 0]) / 6.0
    assert not cols[: int(shift) - 1].any() and cols[int(shift) + 1:].all()
