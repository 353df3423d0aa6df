"""The split of a rig's pose error into one motion common to all cameras and the rest
(SOLVER.POSE_KEEP_RIG, bench_poses' --per-camera perturbations and its 'common to all cameras'
rows rest on it)."""
import sys
from pathlib import Path

import numpy as np

from npcr.geometry import look_at, rotation_exp
from npcr.modeling.poses import without_rig_motion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_poses import perturb, rig_motion_size, rotation_error_deg  # noqa: E402


def ring(count: int = 12, distance: float = 3.0) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return np.stack([look_at(np.array([distance * np.sin(a), 0.3, distance * np.cos(a)]),
                             np.zeros(3), np.array([0.0, -1.0, 0.0])) for a in angles])


def test_a_rigid_motion_of_the_whole_rig_is_measured_and_undone():
    true, centre = ring(), np.array([0.1, -0.2, 0.05])
    ids = list(range(len(true)))
    motion = np.eye(4)
    motion[:3, :3] = rotation_exp(np.radians(0.5) * np.array([0.0, 0.6, 0.8]))
    motion[:3, 3] = centre - motion[:3, :3] @ centre + np.array([0.03, 0.0, -0.04])  # about centre
    moved = motion @ true
    degrees, shift = rig_motion_size(moved, true, ids, centre, radius=3.0)
    assert np.isclose(degrees, 0.5, atol=1e-9) and np.isclose(shift, 100 * 0.05 / 3.0, atol=1e-9)
    assert np.allclose(without_rig_motion(moved, true, ids, centre), true, atol=1e-12)


def test_per_camera_errors_keep_their_size_once_the_common_motion_is_gone():
    true, centre = ring(44), np.zeros(3)
    ids = list(range(len(true)))
    wrong = perturb(true, 2.0, 0.06, seed=0)
    assert rig_motion_size(wrong, true, ids, centre, 3.0)[0] > 0.1  # a random sample has one
    alone = without_rig_motion(wrong, true, ids, centre)
    degrees, shift = rig_motion_size(alone, true, ids, centre, 3.0)
    assert degrees < 1e-3 and shift < 1e-3
    assert 1.8 < np.mean([rotation_error_deg(a, t) for a, t in zip(alone, true)]) < 2.1
