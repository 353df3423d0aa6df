"""tools/prepare_points.py: outliers and out-of-view points go, normalisation keeps every view."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import pcpr_ext
from npcr.data import write_native_scene
from npcr.data.demo_scene import make_demo_scene
from npcr.data.formats import load_scene_from


def _index_map(scene, xyz, near, far):
    _, index = pcpr_ext.project(torch.from_numpy(xyz), torch.tensor(scene.K, dtype=torch.float32),
                                torch.tensor(scene.cam_to_world, dtype=torch.float32), 32, 32,
                                near=near, far=far)
    return index


@pytest.mark.e2e
def test_prepare_points_cleans_and_normalises(tmp_path):
    s = make_demo_scene(seed=2, size=32, num_cameras=4, strands=40, num_points=3000)
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(20, 3))
    stray = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * rng.uniform(1.4, 2.0, (20, 1)))
    stray = stray.astype(np.float32)  # sparse points around the object: outliers
    behind = np.float32([[0, 0, 40.0], [40.0, 0, 0]])  # far outside every view
    xyz = np.concatenate([s.points, stray, behind])
    colors = np.concatenate([s.colors, np.ones((22, 3), np.float32)])
    root = tmp_path / "scene"
    write_native_scene(root, s.cam_to_world, s.K, s.images, s.alphas, xyz, colors)

    out = tmp_path / "prepared"
    proc = subprocess.run([sys.executable, "tools/prepare_points.py", str(root), str(out),
                           "--outliers", "10", "1.5", "--min-views", "1", "--normalize"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "frame 0: input 3022" in proc.stdout
    prepared = load_scene_from(out)
    pts, _ = prepared.points(0)
    assert len(pts) < 3000 and np.linalg.norm(pts, axis=1).max() <= 1.0 + 1e-5
    T = np.loadtxt(out / "normalization.txt")
    kept = (np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(T).T)[:, :3].astype(np.float32)
    assert not (np.abs(kept - behind[:, None]).sum(-1) < 1e-3).any()  # out-of-view points gone
    assert (np.linalg.norm(kept, axis=1) > 1.3).sum() <= 2  # the stray points are gone
    # same pixels in every view before and after normalising (the cameras moved with the points)
    scale = T[0, 0]
    original = load_scene_from(root)
    before = _index_map(original, kept, 0.5, 10.0)
    after = _index_map(prepared, pts, 0.5 * scale, 10.0 * scale)
    assert (before == after).float().mean() > 0.99 and (after >= 0).any()
