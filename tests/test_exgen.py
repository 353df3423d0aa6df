"""exparamgen: surround paths look at the centre and circle through the start camera."""
import subprocess
import sys

import cv2
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


@pytest.mark.e2e
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


def _azimuth_elevation(poses, centre, up, reference):
    from npcr.camera_paths import orbit_basis
    up, e1, e2 = orbit_basis(up, reference)
    v = poses[:, :3, 3] - centre
    el = np.degrees(np.arcsin(v @ up / np.linalg.norm(v, axis=1)))
    az = np.degrees(np.unwrap(np.arctan2(v @ e2, v @ e1)))
    return az, el, np.linalg.norm(v, axis=1)


def test_orbit_by_azimuth_elevation_radius():
    from exparamgen import orbit_path
    ref = np.array([1.0, 0.0, 0.3])
    poses = orbit_path(CENTRE, UP, ref, 2.5, (0.0, 180.0), (10.0, 40.0), 7)
    az, el, r = _azimuth_elevation(poses, CENTRE, UP, ref)
    assert np.allclose(az, np.arange(7) * 30.0) and np.allclose(el, 10 + np.arange(7) * 5.0)
    assert np.allclose(r, 2.5) and all(_looks_at(p, CENTRE) for p in poses)
    assert all(p[:3, 1] @ UP < 0 for p in poses)
    loop = orbit_path(CENTRE, UP, ref, 2.5, (0.0, 360.0), (0.0, 0.0), 12)
    az, el, _ = _azimuth_elevation(loop, CENTRE, UP, ref)
    assert np.allclose(np.diff(az), 30.0) and np.isclose(az[-1], 330.0)  # no repeated frame
    with pytest.raises(ValueError, match="radius"):
        orbit_path(CENTRE, UP, ref, 0.0, (0.0, 90.0), (0.0, 0.0), 4)


def test_spiral_and_keyframes():
    from exparamgen import keyframe_path, spiral_path
    ref = np.array([0.0, 1.0, 0.0])
    poses = spiral_path(CENTRE, UP, ref, 3.0, 2.0, (-20.0, 30.0), 17)
    az, el, _ = _azimuth_elevation(poses, CENTRE, UP, ref)
    assert np.isclose(az[-1] - az[0], 720.0) and np.isclose(el[0], -20) and np.isclose(el[-1], 30)
    keys = np.stack([look_at(np.array(e), CENTRE, UP) for e in ([3.0, 0, 1], [0, 3.0, 0.5],
                                                                 [-3.0, 0, 0])])
    path = keyframe_path(keys, 9)
    assert np.allclose(path[[0, 4, 8]], keys)
    steps = np.linalg.norm(np.diff(path[:5, :3, 3], axis=0), axis=1)
    assert np.allclose(steps, steps[0])  # even spacing within a segment
    with pytest.raises(ValueError, match="2 keyframes"):
        keyframe_path(keys[:1], 5)


@pytest.mark.e2e
def test_exgen_cli_modes_and_preview(tmp_path):
    cams = np.stack([look_at(np.array(e), CENTRE, UP) for e in ([3.0, 0, 1], [0, 3.0, 0.5])])
    write_cam_poses(tmp_path / "cams.inf", cams)
    write_intrinsics(tmp_path / "K.inf", np.array([[[50.0, 0, 31.5], [0, 50, 31.5], [0, 0, 1]]]))
    base = [sys.executable, "exparamgen/exgen.py", "--campose", str(tmp_path / "cams.inf"),
            "--intrinsics", str(tmp_path / "K.inf"), "--center", *map(str, CENTRE),
            "--up", "0", "0", "1"]
    run = lambda *a: subprocess.run(base + list(a), capture_output=True, text=True)  # noqa: E731
    out = tmp_path / "orbit"
    assert run("--path", "orbit", "--azimuth", "0", "90", "--elevation-range", "5", "5",
               "--radius", "2", "--frames", "4", "--out", str(out)).returncode == 0
    poses = read_cam_poses(out / "CamPose.inf")
    assert poses.shape == (4, 4, 4) and np.allclose(np.linalg.norm(poses[:, :3, 3] - CENTRE,
                                                                    axis=1), 2)
    preview = cv2.imread(str(out / "path_preview.png"))
    assert preview is not None and preview.std() > 5  # a drawn picture, not a blank image
    assert run("--path", "keyframes", "--frames", "5", "--out", str(tmp_path / "k")).returncode == 0
    assert np.allclose(read_cam_poses(tmp_path / "k" / "CamPose.inf")[[0, -1]], cams, atol=1e-6)
    bad = run("--path", "keyframes", "--keyframes", "0", "7", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--keyframes [7]" in bad.stderr


def test_focus_point_where_the_cameras_look():
    from npcr.camera_paths import focus_point
    from box_scene import arc_cameras

    cams = arc_cameras(6)  # all looking at (0, 0.3, 0)
    assert np.allclose(focus_point(cams), [0.0, 0.3, 0.0], atol=1e-6)
    parallel = np.repeat(np.eye(4)[None], 3, axis=0)
    parallel[:, 0, 3] = [0.0, 1.0, 2.0]
    assert focus_point(parallel) is None
    assert focus_point(cams @ np.diag([1.0, 1.0, -1.0, 1.0])) is None  # looking away from it
