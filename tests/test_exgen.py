"""exparamgen: surround paths look at the centre and circle through the start camera."""
import subprocess
import sys

import numpy as np
import pytest

from exparamgen import surround_path
from npcr.data import read_cam_poses, read_intrinsics, write_cam_poses, write_intrinsics
from npcr.geometry import look_at

CENTRE = np.array([0.5, -0.2, 0.1])
UP = np.array([0.0, 0.0, 1.0])


def _looks_at(pose, centre):
    to_centre = centre - pose[:3, 3]
    return np.allclose(pose[:3, 2], to_centre / np.linalg.norm(to_centre), atol=1e-9)


@pytest.mark.parametrize("elevation", [0.0, 20.0])
def test_surround_path_geometry(elevation):
    start = look_at(np.array([3.0, 1.0, 1.5]), np.array([0.0, 0.0, 0.0]), UP)  # not at CENTRE
    poses = surround_path(start, CENTRE, UP, 36, elevation)
    assert poses.shape == (36, 4, 4)
    assert np.allclose(poses[0, :3, 3], start[:3, 3])
    dist = np.linalg.norm(poses[:, :3, 3] - CENTRE, axis=1)
    assert np.allclose(dist, dist[0])
    assert all(_looks_at(p, CENTRE) for p in poses)
    assert all(np.allclose(p[:3, :3].T @ p[:3, :3], np.eye(3)) for p in poses)
    assert all(p[:3, 1] @ UP < 0 for p in poses)  # image y (down) points against up
    heights = (poses[:, :3, 3] - CENTRE) @ UP
    if elevation == 0:
        assert np.allclose(heights, heights[0])
    else:
        assert heights.max() - heights.min() > 0.5
    # one full turn: azimuths step evenly
    radial = poses[:, :3, 3] - CENTRE - np.outer(heights, UP)
    az = np.unwrap(np.arctan2(radial[:, 1], radial[:, 0]))
    assert np.allclose(np.diff(az), 2 * np.pi / 36)


def test_camera_on_axis_is_refused():
    start = look_at(np.array([0.0, 0.001, 5.0]), np.zeros(3), np.array([0, 1.0, 0]))
    start[:3, 3] = [0, 0, 5.0]
    with pytest.raises(ValueError, match="up axis"):
        surround_path(start, np.zeros(3), UP, 10)


def test_exgen_cli(tmp_path):
    start = look_at(np.array([3.0, 0.0, 1.0]), CENTRE, UP)
    write_cam_poses(tmp_path / "one.inf", start[None])
    write_intrinsics(tmp_path / "K.inf", np.array([[[50.0, 0, 31.5], [0, 50, 31.5], [0, 0, 1]]]))
    out = tmp_path / "path"
    cmd = [sys.executable, "exparamgen/exgen.py", "--campose", str(tmp_path / "one.inf"),
           "--intrinsics", str(tmp_path / "K.inf"), "--center", *map(str, CENTRE), "--frames", "12",
           "--up", "0", "0", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    poses, K = read_cam_poses(out / "CamPose.inf"), read_intrinsics(out / "Intrinsic.inf")
    assert poses.shape == (12, 4, 4) and K.shape == (12, 3, 3)
    assert all(_looks_at(p, CENTRE) for p in poses)

    bad = subprocess.run(cmd[:3] + [str(tmp_path / "missing.inf")] + cmd[4:], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "missing.inf: file not found" in bad.stderr
