"""tools/view.py: the viser web viewer, driven end to end by headless Chromium (DevTools protocol)."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from npcr.data import read_cam_poses, read_intrinsics, write_native_scene
from npcr.data.demo_scene import make_demo_scene
from npcr.engine.trained import load_trained
from helpers import browser_screenshot, free_port, wait_for_http
from npcr.geometry import pinhole
from npcr.viewer import Viewer

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    s = make_demo_scene(seed=1, size=32, num_cameras=8, strands=60, num_points=3000)
    write_native_scene(root / "scene", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    subprocess.run([sys.executable, "tools/train.py", "DATASETS.ROOT", root / "scene", "OUTPUT_DIR",
                    root / "out", "DATASETS.VAL_CAMERAS", "[1]", "MODEL.UNET_CHANNELS", "[8, 16]",
                    "MODEL.NEAR", "0.5", "MODEL.FAR", "10.0", "MODEL.MAX_SPLAT", "2",
                    "SOLVER.MAX_EPOCHS", "4"], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return root / "out"


@pytest.mark.skipif(not any(os.access(os.path.join(d, "chromium"), os.X_OK)
                            for d in os.environ["PATH"].split(os.pathsep)),
                    reason="needs Debian's chromium (make test installs it)")
def test_browser_shows_the_rendered_object_and_the_server_stops_cleanly(trained_dir):
    port = free_port()
    server = subprocess.Popen([sys.executable, "tools/view.py", "--output-dir", trained_dir,
                               "--port", str(port), "--size", "128"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        image = browser_screenshot(f"http://127.0.0.1:{port}/", wait=6.0)
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and "viewer stopped" in out, err
    h, w = image.shape[:2]
    # viser's own background is white; the render replaces it, and the object, near the middle
    # of the view, differs from the render's empty surroundings.
    edge = image[h - 60:h - 10, w // 2 - 100:w // 2 + 100].reshape(-1, 3).astype(float)
    middle = image[h // 2 - 40:h // 2 + 40, w // 2 - 40:w // 2 + 40].reshape(-1, 3).astype(float)
    assert (255 - edge.mean(0)).max() > 60, "no render in the background"
    assert np.abs(middle.mean(0) - edge.mean(0)).max() > 15, "no object in view"


def test_modes_record_and_save_a_path(trained_dir, tmp_path):
    trained = load_trained(trained_dir)
    viewer = Viewer(trained, port=free_port(), size=48, path_dir=tmp_path / "path")
    try:
        c2w = trained.data.scene.cam_to_world[:2]
        for mode in viewer.mode.options:
            viewer.mode.value = mode
            img = viewer.render(c2w[0], fov_y=0.8, aspect=1.5, size=48)
            assert img.shape == (48, 72, 3) and img.dtype == np.uint8
        portrait = viewer.render(c2w[0], fov_y=0.8, aspect=9 / 16, size=48)  # a phone's window
        assert portrait.shape == (48, 27, 3) and portrait.std() > 5
        assert viewer.save_path() is None  # nothing recorded yet
        viewer.record(c2w[0])
        viewer.record(c2w[1])
        assert viewer.save_path() == tmp_path / "path"
        assert np.allclose(read_cam_poses(tmp_path / "path" / "CamPose.inf"), c2w, atol=1e-6)
        assert read_intrinsics(tmp_path / "path" / "Intrinsic.inf").shape == (2, 3, 3)
        assert "2 cameras saved" in viewer.status.content
    finally:
        viewer.server.stop()
    K = pinhole(100, 150, fov_y=np.radians(60))
    assert np.isclose(K[1, 1], 50 / np.tan(np.radians(30))) and K[0, 2] == 74.5
