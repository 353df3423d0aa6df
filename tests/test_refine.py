"""The refine net, pose interpolation, training sequences and streaming refinement."""
import math

import numpy as np
import pytest
import torch

from npcr.config import load_config
from npcr.geometry import Cameras, interpolate_pose, look_at
from npcr.temporal.net import TemporalRefiner, build_refiner
from npcr.temporal.sequences import approach_poses, nearest_cameras
from npcr.temporal.stream import StreamingRefiner, View


def rotation_angle(a, b):
    R = a[:3, :3].T @ b[:3, :3]
    return math.degrees(math.acos(np.clip((np.trace(R) - 1) / 2, -1, 1)))


def test_interpolate_pose_follows_the_shortest_arc():
    a = look_at([3.0, 0.0, 0.0], [0, 0, 0], [0, -1, 0])
    b = look_at([0.0, 0.5, 3.0], [0, 0, 0], [0, -1, 0])
    assert np.allclose(interpolate_pose(a, b, 0.0), a) and np.allclose(interpolate_pose(a, b, 1.0), b)
    mid = interpolate_pose(a, b, 0.5)
    assert np.isclose(rotation_angle(a, mid), rotation_angle(a, b) / 2)
    assert np.isclose(rotation_angle(mid, b), rotation_angle(a, b) / 2)
    assert np.allclose(mid[:3, 3], (a[:3, 3] + b[:3, 3]) / 2)
    assert np.allclose(mid[:3, :3] @ mid[:3, :3].T, np.eye(3))
    turned = a.copy()
    turned[:3, :3] = a[:3, :3] @ np.diag([-1.0, -1.0, 1.0])  # half a turn about the optical axis
    assert np.isclose(rotation_angle(a, interpolate_pose(a, turned, 0.5)), 90)


def test_approach_sequences_end_at_the_target():
    ring = np.stack([look_at([3 * math.cos(t), 0, 3 * math.sin(t)], [0, 0, 0], [0, -1, 0])
                     for t in np.linspace(0, 2 * math.pi, 8, endpoint=False)])
    table = nearest_cameras(ring, [0, 4], [1, 2, 3, 5, 6, 7], 2)
    assert sorted(table[0]) == [1, 7] and sorted(table[4]) == [3, 5]
    poses = approach_poses(ring[0], ring[1], length=3, step=0.1)
    assert np.allclose(poses[-1], ring[0])
    gaps = [np.linalg.norm(poses[i, :3, 3] - poses[i + 1, :3, 3]) for i in range(2)]
    assert np.allclose(gaps, gaps[0]) and gaps[0] > 0


def test_refiner_passes_the_render_through_without_history():
    torch.manual_seed(0)
    refiner = build_refiner(load_config(None, ["REFINE.CHANNELS", "[8, 16]"]))
    current = torch.rand(2, 4, 20, 28)
    warped = torch.rand(2, 2, 4, 20, 28)
    out = refiner(current, warped, torch.zeros(2, 2, 1, 20, 28))
    assert torch.equal(out, current)  # at initialisation: no valid history, zero residual
    with pytest.raises(ValueError, match="2 previous"):
        refiner(current, warped[:, :1], torch.zeros(2, 1, 1, 20, 28))


def test_refiner_can_learn_to_trust_history():
    torch.manual_seed(0)
    refiner = TemporalRefiner(1, [8, 16])
    current, history = torch.rand(1, 4, 16, 16), torch.rand(1, 1, 4, 16, 16)
    valid = torch.ones(1, 1, 1, 16, 16)
    opt = torch.optim.Adam(refiner.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = (refiner(current, history, valid) - history[:, 0]).abs().mean()
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first


def test_streaming_refiner_holds_only_num_prev_frames():
    refiner = TemporalRefiner(2, [8, 16]).eval()
    stream = StreamingRefiner(refiner, 0.03)
    K = torch.tensor([[[20.0, 0, 7.5], [0, 20.0, 7.5], [0, 0, 1]]])
    for i in range(5):
        c2w = torch.tensor(look_at([0.1 * i, 0, -3], [0, 0, 0], [0, -1, 0]), dtype=torch.float32)
        out = stream(View(torch.rand(1, 4, 16, 16), torch.full((1, 1, 16, 16), 3.0),
                          Cameras(K, c2w[None], 16, 16)))
        assert out.shape == (1, 4, 16, 16) and len(stream.history) == min(i + 1, 2)
        assert not out.requires_grad
