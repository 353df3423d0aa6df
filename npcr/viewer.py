"""Interactive web viewer (viser): orbit, pan and zoom around a trained model in the browser.

The browser's camera is rendered by the network and shown as the scene's background image;
the point cloud can be shown on top. While the camera moves, frames are rendered at a lower
resolution (``moving_size``) and the full one (``size``) follows once it rests. A button records
the current camera into a path written as ``CamPose.inf`` + ``Intrinsic.inf`` (at the dataset's
image size) for tools/render.py and tools/refine.py.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import torch
import viser
import viser.transforms as vtf

from .data import write_cam_poses, write_intrinsics
from .engine.monitor import shade_depth
from .engine.trained import Trained
from .errors import NpcrError, one_line
from .geometry import Cameras
from .outputs import check_output, output_folder

VIEW_TOOL = "tools/view.py"
REST_SECONDS = 0.3  # a camera unchanged this long is at rest: render at full resolution


def camera_to_world(camera) -> np.ndarray:
    """(4, 4) camera-to-world of a viser camera (OpenCV axes, as npcr's)."""
    c2w = np.eye(4)
    c2w[:3, :3] = vtf.SO3(np.asarray(camera.wxyz)).as_matrix()
    c2w[:3, 3] = camera.position
    return c2w


class Viewer:
    """A viser server showing ``trained``; ``serve_forever`` renders until ``stop``."""

    def __init__(self, trained: Trained, host: str = "127.0.0.1", port: int = 8080,
                 size: int = 512, moving_size: int = 128, path_dir: Path | None = None,
                 overwrite: bool = False):
        self.trained, self.size, self.moving_size = trained, size, moving_size
        self.path_dir = path_dir or Path(trained.cfg.OUTPUT_DIR) / "viewer_path"
        self.overwrite = overwrite
        check_output(self.path_dir, VIEW_TOOL, overwrite)  # refused now, not at the first save
        self.frame = trained.data.frames[0]
        scene = trained.data.scene
        points = trained.data.clouds.points[self.frame].numpy()
        self.centre = (points.min(0) + points.max(0)) / 2
        self.up = -scene.cam_to_world[:, :3, 1].mean(0)
        self.recorded: list[np.ndarray] = []
        self.last_render: dict[int, tuple[float, int]] = {}  # client -> (camera time, size)
        self._stop = threading.Event()

        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.server.scene.set_up_direction(tuple(self.up / np.linalg.norm(self.up)))
        colours = scene.points(self.frame)[1]
        self.cloud = self.server.scene.add_point_cloud(
            "/points", points=points, colors=colours if colours is not None else (200, 200, 200),
            point_size=0.005, visible=False)
        gui = self.server.gui
        self.mode = gui.add_dropdown("show", ["render", "alpha"] + [
            f"depth layer {k}" for k in range(trained.model.num_layers)], initial_value="render")
        self.show_points = gui.add_checkbox("point cloud", initial_value=False)
        self.show_points.on_update(lambda _: setattr(self.cloud, "visible",
                                                     self.show_points.value))
        self.mode.on_update(lambda _: self.last_render.clear())
        record = gui.add_button("record camera")
        record.on_click(lambda event: self.record(camera_to_world(event.client.camera)))
        save = gui.add_button("save path")
        save.on_click(lambda _: self.save_path())
        self.status = gui.add_markdown("0 cameras recorded")
        self.server.on_client_connect(self._start_view)

    def _start_view(self, client: viser.ClientHandle) -> None:
        first = self.trained.data.scene.cam_to_world[0]
        client.camera.position = tuple(first[:3, 3])
        client.camera.look_at = tuple(self.centre)
        client.camera.up_direction = tuple(self.up)

    def record(self, c2w: np.ndarray) -> None:
        """Append a camera to the path being recorded."""
        self.recorded.append(np.asarray(c2w, dtype=np.float64))
        self.status.content = f"{len(self.recorded)} cameras recorded"

    def save_path(self) -> Path | None:
        """Write the recorded cameras as CamPose.inf + Intrinsic.inf in ``path_dir`` (intrinsics
        of the dataset's first camera, which render.py scales to the render size), replacing the
        path saved before; a failure is shown in the panel."""
        if not self.recorded:
            return None
        K = np.repeat(self.trained.data.scene.K[:1], len(self.recorded), axis=0)
        try:
            with output_folder(self.path_dir, VIEW_TOOL, self.overwrite) as stage:
                write_cam_poses(stage / "CamPose.inf", np.stack(self.recorded))
                write_intrinsics(stage / "Intrinsic.inf", K)
        except (NpcrError, OSError) as exc:
            self.status.content = f"not saved: {one_line(exc)}"
            return None
        self.status.content = f"{len(self.recorded)} cameras saved to {self.path_dir}"
        return self.path_dir

    @torch.no_grad()
    def render(self, c2w: np.ndarray, fov_y: float, aspect: float, size: int) -> np.ndarray:
        """(H, W, 3) uint8 view for the current ``show`` mode, ``size`` pixels high."""
        h, w = size, max(8, round(size * aspect))
        cameras = Cameras.from_fov(np.asarray(c2w)[None], h, w, fov_y=fov_y)
        out = self.trained.render([self.frame], cameras.to(self.trained.device))
        mode = self.mode.value
        if mode.startswith("depth"):
            img = shade_depth(out["depth"][0, int(mode.split()[-1])]).expand(3, -1, -1)
        else:
            img = out["alpha"][0].expand(3, -1, -1) if mode == "alpha" else out["rgb"][0]
        return (img.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)

    def step(self) -> int:
        """Render for every client whose view is out of date; returns how many were rendered."""
        rendered = 0
        now = time.time()
        for cid, client in self.server.get_clients().items():
            camera = client.camera
            if camera.image_height == 0:  # no camera message from the browser yet
                continue
            moving = now - camera.update_timestamp < REST_SECONDS
            size = self.moving_size if moving else self.size
            if self.last_render.get(cid) == (camera.update_timestamp, size):
                continue
            image = self.render(camera_to_world(camera), camera.fov, camera.aspect, size)
            client.scene.set_background_image(image, format="jpeg")
            self.last_render[cid] = (camera.update_timestamp, size)
            rendered += 1
        return rendered

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            if self.step() == 0:
                time.sleep(0.02)
        self.server.stop()

    def stop(self) -> None:
        self._stop.set()
