"""pcpr_ext.project: hand-made cases and a loop-by-loop oracle of the projection contract."""
import math

import numpy as np
import pytest
import torch

import pcpr_ext
from helpers import camera, intrinsics

f32 = np.float32


def oracle(points, K, c2w, height, width, num_layers, near, far, max_splat):
    """Independent, plain-loop reading of pcpr_ext/PROJECTION.md in float32."""
    pts = points.numpy().astype(f32)
    B = K.shape[0]
    depth = np.zeros((B, num_layers, height, width), f32)
    index = -np.ones((B, num_layers, height, width), np.int64)
    for b in range(B):
        R = c2w[b, :3, :3].numpy().astype(f32)
        t = c2w[b, :3, 3].numpy().astype(f32)
        k = K[b].numpy().astype(f32)
        lists = {}
        for i, p in enumerate(pts):
            if not np.all(np.isfinite(p)):
                continue
            d = [p[0] - t[0], p[1] - t[1], p[2] - t[2]]
            x, y, z = (d[0] * R[0, j] + d[1] * R[1, j] + d[2] * R[2, j] for j in range(3))
            if not (z >= f32(near) and z <= f32(far)):
                continue
            u = (k[0, 0] * x + k[0, 1] * y) / z + k[0, 2]
            v = k[1, 1] * y / z + k[1, 2]
            c, r = math.floor(u + f32(0.5)), math.floor(v + f32(0.5))
            s = f32(max_splat) * (f32(far) - z) / (f32(far) - f32(near))
            s = int(min(max(math.floor(s), 1), max_splat))
            o = (s - 1) // 2
            for rr in range(r - o, r - o + s):
                for cc in range(c - o, c - o + s):
                    if 0 <= rr < height and 0 <= cc < width:
                        lists.setdefault((rr, cc), []).append((float(z), i))
        for (rr, cc), items in lists.items():
            for layer, (z, i) in enumerate(sorted(items)[:num_layers]):
                depth[b, layer, rr, cc], index[b, layer, rr, cc] = z, i
    return torch.from_numpy(depth), torch.from_numpy(index)


def test_single_point_lands_on_its_pixel(identity_camera):
    pts = torch.tensor([[0.2, -0.1, 2.0]])
    K = intrinsics(f=10.0, cx=4.0, cy=4.0)[None]
    depth, index = pcpr_ext.project(pts, K, identity_camera, 9, 9, near=0.5, far=10.0)
    assert depth.shape == (1, 1, 9, 9) and index.dtype == torch.int64
    # u = 10 * 0.2 / 2 + 4 = 5, v = 10 * -0.1 / 2 + 4 = 3.5 -> row floor(4.0) = 4
    assert (index >= 0).sum() == 1 and index[0, 0, 4, 5] == 0
    assert depth[0, 0, 4, 5] == pytest.approx(2.0)
    assert depth[index < 0].eq(0).all()


def test_equal_depth_lower_index_first_and_extra_layers_empty(identity_camera):
    pts = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 2.0]])
    K = intrinsics()[None]
    depth, index = pcpr_ext.project(pts, K, identity_camera, 9, 9, num_layers=5, near=0.5, far=10.0)
    assert index[0, :, 4, 4].tolist() == [2, 0, 1, -1, -1]
    assert depth[0, :, 4, 4].tolist() == [2.0, 3.0, 3.0, 0.0, 0.0]


@pytest.mark.parametrize("pixel", [(0, 4), (8, 4), (4, 0), (4, 8), (0, 0), (8, 8)])
def test_splat_crossing_the_border_is_clipped_not_dropped(identity_camera, pixel):
    row, col = pixel
    f = 10.0
    z = 1.0
    pts = torch.tensor([[(col - 4.0) * z / f, (row - 4.0) * z / f, z]])
    # near == z gives the full max_splat side 3: the square spans pixel-1 .. pixel+1.
    depth, index = pcpr_ext.project(pts, intrinsics(f=f)[None], identity_camera, 9, 9,
                                    near=1.0, far=10.0, max_splat=3)
    covered = {(r, c) for r, c in zip(*torch.nonzero(index[0, 0] == 0, as_tuple=True))}
    expected = {(r, c) for r in range(row - 1, row + 2) for c in range(col - 1, col + 2)
                if 0 <= r < 9 and 0 <= c < 9}
    assert {(int(r), int(c)) for r, c in covered} == expected


def test_splat_side_shrinks_with_depth(identity_camera):
    K = intrinsics(f=10.0)[None]
    sides = []
    for z in (1.0, 4.0, 7.0, 10.0):
        _, index = pcpr_ext.project(torch.tensor([[0.0, 0.0, z]]), K, identity_camera, 9, 9,
                                    near=1.0, far=10.0, max_splat=4)
        sides.append(int((index >= 0).sum()))
    # side = clamp(floor(4 * (10 - z) / 9), 1, 4): 4, 2, 1, 1
    assert sides == [16, 4, 1, 1]


def test_skipped_points(identity_camera):
    pts = torch.tensor([[float("nan"), 0, 2], [0, float("inf"), 2], [0, 0, -2.0], [0, 0, 0.2],
                        [0, 0, 50.0], [0, 0, 2.0]])
    _, index = pcpr_ext.project(pts, intrinsics()[None], identity_camera, 9, 9, num_layers=3,
                                near=0.5, far=10.0, max_splat=1)
    assert set(index.unique().tolist()) == {-1, 5}


def test_empty_cloud(identity_camera):
    depth, index = pcpr_ext.project(torch.zeros(0, 3), intrinsics()[None], identity_camera, 5, 7,
                                    num_layers=2)
    assert index.shape == (1, 2, 5, 7) and (index == -1).all() and (depth == 0).all()


def test_batched_cameras_match_single_calls(random_scene):
    pts, K, c2w, (h, w) = random_scene(batch=3)
    depth, index = pcpr_ext.project(pts, K, c2w, h, w, num_layers=3, near=0.5, far=20.0,
                                    max_splat=3)
    for b in range(3):
        d1, i1 = pcpr_ext.project(pts, K[b:b + 1], c2w[b:b + 1], h, w, num_layers=3, near=0.5,
                                  far=20.0, max_splat=3)
        assert torch.equal(i1[0], index[b]) and torch.equal(d1[0], depth[b])


@pytest.mark.parametrize("num_layers,max_splat", [(1, 1), (2, 3), (4, 2), (6, 7)])
def test_reference_matches_loop_oracle(random_scene, num_layers, max_splat):
    pts, K, c2w, (h, w) = random_scene(n=150, batch=2, seed=num_layers)
    near = torch.tensor([0.5, 1.0])
    depth, index = pcpr_ext.project(pts, K, c2w, h, w, num_layers=num_layers, near=near, far=9.0,
                                    max_splat=max_splat, backend="torch")
    for b in range(2):
        d_ref, i_ref = oracle(pts, K[b:b + 1], c2w[b:b + 1], h, w, num_layers, float(near[b]), 9.0,
                              max_splat)
        assert torch.equal(index[b:b + 1], i_ref)
        assert torch.equal(depth[b:b + 1], d_ref)
    assert (index >= 0).any()


def test_layers_are_sorted_and_distinct(random_scene):
    pts, K, c2w, (h, w) = random_scene(n=600, seed=3)
    depth, index = pcpr_ext.project(pts, K, c2w, h, w, num_layers=4, near=0.5, far=20.0,
                                    max_splat=5)
    valid = index >= 0
    # a layer is filled only where the one before it is
    assert not (valid[:, 1:] & ~valid[:, :-1]).any()
    both = valid[:, 1:] & valid[:, :-1]
    deeper = depth[:, 1:] > depth[:, :-1]
    tie_broken = (depth[:, 1:] == depth[:, :-1]) & (index[:, 1:] > index[:, :-1])
    assert (deeper | tie_broken)[both].all()
    assert both.any()


def test_inputs_are_normalised(random_scene):
    pts, K, c2w, (h, w) = random_scene(n=100)
    ref = pcpr_ext.project(pts, K, c2w, h, w, num_layers=2, near=0.5, far=20.0)
    alt = pcpr_ext.project(pts.double().t().contiguous().t(), K.double(), c2w[:, :3, :], h, w,
                           num_layers=2, near=0.5, far=20.0)
    assert torch.equal(ref[1], alt[1]) and torch.equal(ref[0], alt[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(points=torch.zeros(4, 2)), "points must have shape"),
    (dict(K=torch.zeros(1, 2, 3)), "K must have shape"),
    (dict(cam_to_world=torch.zeros(2, 4, 4)), "K has 1 cameras"),
    (dict(num_layers=0), "num_layers"),
    (dict(max_splat=0), "max_splat"),
    # the native kernels' limits hold for the reference too: every backend takes the same calls
    (dict(max_splat=1025, backend="torch"), r"max_splat must be in \[1, 1024\]"),
    (dict(height=40000, backend="torch"), "at most 32767 rows"),
    (dict(near=5.0, far=1.0), "near < far"),
    (dict(near=0.0), "0 < near"),
    (dict(far=math.inf), "far < inf"),
    (dict(near=1e-50), "0 < near"),  # 0 in float32
    (dict(near=torch.tensor([5.0]), far=torch.tensor([1.0])), "near < far"),
    (dict(backend="metal"), "unknown backend"),
    (dict(points=torch.zeros(4, 3, dtype=torch.int32)), "floating-point"),
])
def test_bad_arguments_raise_clear_errors(identity_camera, kwargs, message):
    args = dict(points=torch.zeros(4, 3), K=intrinsics()[None], cam_to_world=identity_camera,
                height=9, width=9)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError, RuntimeError), match=message):
        pcpr_ext.project(**args)


def test_backends_lists_the_reference():
    assert "torch" in pcpr_ext.backends()


def test_camera_helper_looks_at_target():
    c2w = camera(eye=(1.0, 2.0, 3.0), target=(0.0, 0.0, 0.0))
    z = c2w[:3, 2]
    assert torch.allclose(z, -torch.tensor([1.0, 2.0, 3.0]) / math.sqrt(14), atol=1e-6)
