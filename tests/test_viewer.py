"""tools/view.py: the viser web viewer, driven end to end by headless Chromium (DevTools protocol)."""
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import cv2
import numpy as np
import pytest
import websockets

from npcr.data import read_cam_poses, read_intrinsics, write_native_scene
from npcr.data.demo_scene import make_demo_scene
from npcr.engine.trained import load_trained
from npcr.viewer import Viewer, view_intrinsics

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader",
                  "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=900,600"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def stop_process_group(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM every process in ``process``'s group, wait until all are gone, then SIGKILL any left."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait()
    end = time.time() + seconds
    try:
        while time.time() < end:
            os.killpg(process.pid, 0)  # raises once the group is empty
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def screenshot(url: str, wait: float) -> np.ndarray:
    """Open ``url`` in headless Chromium, wait ``wait`` seconds of real time (the viewer streams
    its renders over a websocket), and return a screenshot (BGR)."""
    port = free_port()
    # Chromium's helper processes (zygote, renderer, GPU) outlive the main one for a moment and
    # keep writing to the profile: the whole process group is stopped before the profile goes.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    f"--remote-debugging-port={port}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/json")
            tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
            page = next(t for t in tabs if t["type"] == "page")
            async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**26) as ws:
                async def call(i: int, method: str, **params):
                    await ws.send(json.dumps({"id": i, "method": method, "params": params}))
                    while True:
                        reply = json.loads(await ws.recv())
                        if reply.get("id") == i:
                            return reply.get("result", {})
                await call(1, "Page.navigate", url=url)
                await asyncio.sleep(wait)
                shot = await call(2, "Page.captureScreenshot", format="png")
        finally:
            stop_process_group(browser)
    return cv2.imdecode(np.frombuffer(base64.b64decode(shot["data"]), np.uint8), cv2.IMREAD_COLOR)


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
        image = asyncio.run(screenshot(f"http://127.0.0.1:{port}/", wait=6.0))
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
    K = view_intrinsics(np.radians(60), 100, 150)
    assert np.isclose(K[1, 1], 50 / np.tan(np.radians(30))) and K[0, 2] == 74.5
