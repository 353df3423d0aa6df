"""tools/inspect_dataset.py: summary, overlays, top-down plot, and a warning for a wrong pose."""
import subprocess
import sys

import numpy as np
import pytest

from npcr.data import read_cam_poses, write_cam_poses, write_native_scene
from npcr.data.demo_scene import make_demo_scene


@pytest.mark.e2e
def test_inspect_flags_a_camera_that_looks_away(tmp_path):
    s = make_demo_scene(seed=1, size=24, num_cameras=4, strands=30, num_points=2000)
    root = tmp_path / "scene"
    write_native_scene(root, s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    poses = read_cam_poses(root / "CamPose.inf")
    poses[2, :3, :3] = poses[2, :3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turned 180 degrees
    write_cam_poses(root / "CamPose.inf", poses)
    out = tmp_path / "inspect"
    proc = subprocess.run([sys.executable, "tools/inspect_dataset.py", str(root), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert '"points": 2000' in proc.stdout and "warning: cameras [2]" in proc.stdout
    rows = [ln.split() for ln in proc.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert float(rows[0][4].rstrip("%")) > 50  # a right pose: most points land inside the matte
    assert sorted(p.name for p in out.iterdir() if p.name != ".npcr-output.json") == [
        "overlay_0000.png", "overlay_0001.png", "overlay_0002.png", "overlay_0003.png",
        "top_down.png"]
