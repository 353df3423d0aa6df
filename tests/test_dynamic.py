"""Dynamic scenes: a generated moving sequence, features shared by point index, frame x camera
videos."""
import subprocess

import numpy as np
import pytest
import torch

from npcr.data import read_cam_poses, read_intrinsics, read_points, write_cam_poses, write_intrinsics
from npcr.data.demo_scene import moving_pose
from npcr.modeling import FrameClouds
from helpers import run_tool


run = run_tool


def test_shared_features_use_one_table():
    a, b = torch.zeros(5, 3), torch.ones(5, 3)
    shared = FrameClouds({0: a, 3: b}, shared=True)
    assert shared.offsets == {0: 0, 3: 0} and shared.total == 5
    own = FrameClouds({0: a, 3: b})
    assert own.offsets == {0: 0, 3: 5} and own.total == 10
    assert shared.to(torch.device("cpu")).shared
    with pytest.raises(ValueError, match="equal point counts"):
        FrameClouds({0: a, 1: torch.zeros(4, 3)}, shared=True)


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    root = tmp_path_factory.mktemp("dynamic")
    run("tools/make_demo_scene.py", "--out", root / "scene", "--size", "32", "--cameras", "6",
        "--strands", "40", "--points", "2000", "--frames", "10", "--seed", "4")
    return root


def test_moving_scene_moves_the_same_points(moving):
    first = read_points(moving / "scene" / "pointclouds" / "frame1.txt")[0]
    for f in (3, 7):
        pts = read_points(moving / "scene" / "pointclouds" / f"frame{f + 1}.txt")[0]
        m = moving_pose(f)
        assert np.allclose(pts, first @ m[:3, :3].T + m[:3, 3], atol=1e-5)  # point i is point i


@pytest.mark.e2e
def test_train_shared_and_render_frames_along_a_path(moving, tmp_path):
    out = tmp_path / "out"
    log = run("tools/train.py", "DATASETS.ROOT", moving / "scene", "OUTPUT_DIR", out,
              "DATASETS.FRAMES", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "MODEL.SHARE_FEATURES", "True",
              "DATASETS.VAL_CAMERAS", "[1]", "MODEL.UNET_CHANNELS", "[8, 16]", "MODEL.NEAR", "0.5",
              "MODEL.FAR", "10.0", "MODEL.MAX_SPLAT", "2", "SOLVER.MAX_EPOCHS", "1",
              "SOLVER.IMS_PER_BATCH", "5").stdout
    assert "2000 points in frames [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in log
    state = torch.load(out / "nr_model_1.pth", weights_only=True)
    assert state["features"].shape[0] == 2000  # one table for the 10 frames

    # A fixed camera watching time pass: camera 0 ten times, frames 0..9 in order.
    c2w = read_cam_poses(moving / "scene" / "CamPose.inf")[:1].repeat(10, 0)
    K = read_intrinsics(moving / "scene" / "Intrinsic.inf")[:1]
    write_cam_poses(tmp_path / "still.inf", c2w)
    write_intrinsics(tmp_path / "K.inf", K)
    run("tools/render.py", "--output-dir", out, "--frame", "all", "--cameras", tmp_path / "still.inf",
        "--intrinsics", tmp_path / "K.inf", "--depth", "--out", tmp_path / "video")
    # The rendered coverage follows each frame's cloud: its centroid moves as the cloud's does.
    for f in (2, 7):
        covered = np.load(tmp_path / "video" / f"depth_{f:04d}.npy") > 0
        pts = read_points(moving / "scene" / "pointclouds" / f"frame{f + 1}.txt")[0]
        cam = (pts - c2w[0, :3, 3]) @ c2w[0, :3, :3]
        u = (K[0] @ (cam.mean(0) / cam.mean(0)[2]))[0]
        assert abs(np.nonzero(covered)[1].mean() - u) < 1.5
    bad = run("tools/render.py", "--output-dir", out, "--frame", "last", ok=False)
    assert bad.returncode == 2 and "'all'" in bad.stderr


@pytest.mark.e2e
def test_shared_features_need_equal_counts(moving, tmp_path):
    scene = tmp_path / "scene"
    subprocess.run(["cp", "-r", str(moving / "scene"), str(scene)], check=True)
    path = scene / "pointclouds" / "frame2.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    proc = run("tools/train.py", "DATASETS.ROOT", scene, "OUTPUT_DIR", tmp_path / "o",
               "DATASETS.FRAMES", "[0, 1]", "MODEL.SHARE_FEATURES", "True", ok=False)
    assert proc.returncode == 2 and "MODEL.SHARE_FEATURES: shared point features need equal" \
        in proc.stderr
