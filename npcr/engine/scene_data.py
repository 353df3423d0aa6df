"""A training or rendering run's scene: its frames and point clouds (with points for holes), the
renderer built for it, and the depth range its points span."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from yacs.config import CfgNode

from ..capture.holes import hole_points
from ..data import Scene, split_cameras
from ..data.formats import load_scene_from
from ..data.images import read_image
from ..data.scene_check import depth_range as scene_depth_range
from ..errors import NpcrError
from ..modeling import FrameClouds, PointRenderer, build_model


@dataclass
class SceneData:
    scene: Scene
    frames: list[int]  # the frames trained on
    clouds: FrameClouds  # their point clouds
    colors: torch.Tensor | None = None  # (rows, 3) the points' colours in feature-row order, if known

    @property
    def mattes(self) -> bool:
        """Whether the photos come with alpha mattes (else the model renders opaque frames)."""
        return self.scene.has_matte(self.frames[0], 0)

    def frame_colors(self, frame: int) -> torch.Tensor | None:
        """(N, 3) the colours of ``frame``'s points, None when the cloud has none."""
        if self.colors is None:
            return None
        start = self.clouds.offsets[frame]
        return self.colors[start:start + len(self.clouds.points[frame])]

    @property
    def points(self) -> torch.Tensor:
        """(N, 3) all points of the trained frames, in feature-row order."""
        return torch.cat(list(self.clouds.points.values()))


def train_frames(cfg: CfgNode) -> list[int]:
    """DATASETS.FRAMES, or [DATASETS.FRAME] when that list is empty."""
    return sorted(set(cfg.DATASETS.FRAMES)) or [cfg.DATASETS.FRAME]


def load_scene(cfg: CfgNode) -> SceneData:
    """The dataset scene (any supported format) and the point clouds of the trained frames."""
    if not cfg.DATASETS.ROOT:
        raise NpcrError("DATASETS.ROOT is not set (pass --config FILE or DATASETS.ROOT PATH)")
    scene = load_scene_from(cfg.DATASETS.ROOT, cfg.DATASETS.FORMAT)
    frames = train_frames(cfg)
    missing = [f for f in frames if f not in scene.frames]
    if missing:
        raise NpcrError(f"frames {missing} not among the frames {scene.frames} of "
                        f"{cfg.DATASETS.ROOT}")
    read = {f: scene.points(f) for f in frames}
    if cfg.DATASETS.FILL_HOLES:
        train_ids, _, _ = split_cameras(scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS),
                                        list(cfg.DATASETS.SELECT_CAMERAS))
        read = {f: with_hole_points(scene, f, train_ids, *read[f]) for f in frames}
    try:
        clouds = FrameClouds({f: torch.from_numpy(xyz) for f, (xyz, _) in read.items()},
                             shared=cfg.MODEL.SHARE_FEATURES)
    except ValueError as exc:
        raise NpcrError(f"MODEL.SHARE_FEATURES: {exc}") from None
    colors = None
    if all(c is not None for _, c in read.values()):
        rows = [read[f][1] for f in frames[:1 if clouds.shared else None]]
        colors = torch.from_numpy(np.concatenate(rows).astype(np.float32))
    return SceneData(scene, frames, clouds, colors)


def with_hole_points(scene: Scene, frame: int, cameras: list[int], xyz: np.ndarray,
                     colors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The cloud of ``frame`` with points for the holes it leaves in the photos of ``cameras``
    (npcr.capture.holes; colours only when the cloud has them)."""
    clock = time.perf_counter()

    def photos():
        for cam in cameras:
            rgb, alpha, valid = scene.read(frame, cam)
            inside = alpha > 127
            yield rgb, inside if valid is None else inside & valid

    extra, extra_colors = hole_points(photos(), scene.K[cameras], scene.cam_to_world[cameras], xyz)
    logging.getLogger("npcr").info("frame %d: %d points added for holes in %d training photos "
                                   "(%.1f s)", frame, len(extra), len(cameras),
                                   time.perf_counter() - clock)
    xyz = np.concatenate([xyz, extra.astype(xyz.dtype)])
    if colors is not None:
        colors = np.concatenate([colors, extra_colors.astype(colors.dtype)])
    return xyz, colors


def build_scene_model(cfg: CfgNode, data: SceneData) -> PointRenderer:
    """The renderer ``cfg`` describes for ``data``: its points, depth range, mattes or not, and a
    photometric correction per camera (relative to the training cameras) when asked."""
    train_ids, _, _ = split_cameras(data.scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS),
                                    list(cfg.DATASETS.SELECT_CAMERAS))
    model = build_model(cfg, data.clouds.total, depth_range(cfg, data), opaque=not data.mattes,
                        num_cameras=data.scene.num_cameras, train_cameras=train_ids)
    model.reference_focal = training_focal(cfg, data, train_ids)
    return model


def training_focal(cfg: CfgNode, data: SceneData, train_ids: list[int]) -> float:
    """Median horizontal focal length (pixels) of the training cameras at INPUT.SIZE."""
    native_w = read_image(data.scene.image_path(data.frames[0], train_ids[0])).shape[1]
    width = cfg.INPUT.SIZE[1] if min(cfg.INPUT.SIZE) > 0 else native_w
    return float(np.median(data.scene.K[train_ids, 0, 0])) * width / native_w


def depth_range(cfg: CfgNode, data: SceneData) -> tuple[float, float]:
    """MODEL.NEAR / MODEL.FAR, each taken from the points' depths over the cameras where it is 0."""
    near, far = float(cfg.MODEL.NEAR), float(cfg.MODEL.FAR)
    if near <= 0 or far <= 0:
        ranges = scene_depth_range(data.scene, data.points.numpy())
        if not np.isfinite(ranges).any():
            raise NpcrError(f"{cfg.DATASETS.ROOT}: no point lies in front of any camera")
        near = near if near > 0 else max(float(np.nanmin(ranges[:, 0])), 1e-4)
        far = far if far > 0 else float(np.nanmax(ranges[:, 1]))
    if not near < far:
        raise NpcrError(f"MODEL.NEAR {near} must be below MODEL.FAR {far}")
    return near, far


def check_points_in_range(cfg: CfgNode, data: SceneData, train_ids: list[int],
                          logger: logging.Logger, sample: int = 200_000) -> None:
    """A MODEL.NEAR / MODEL.FAR set by hand must keep points for the training cameras: refused
    where no training camera sees a point (of up to ``sample``) inside its image within that depth
    range (the run would learn nothing), warned about where some do not."""
    near, far = float(cfg.MODEL.NEAR), float(cfg.MODEL.FAR)
    if near <= 0 and far <= 0:
        return  # both from the points: every camera that sees points keeps them
    near, far = depth_range(cfg, data)
    xyz = data.points.numpy()
    xyz = xyz[np.random.default_rng(0).choice(len(xyz), sample, replace=False)] \
        if len(xyz) > sample else xyz
    cameras = data.scene.cameras(data.frames[0])
    h, w = cameras.size
    blind = []
    for cam in train_ids:
        uv, z = cameras[cam].project(xyz, 1e-9)
        seen = (z >= near) & (z <= far) & (uv[:, 0] > -0.5) & (uv[:, 0] < w - 0.5) \
            & (uv[:, 1] > -0.5) & (uv[:, 1] < h - 0.5)
        if not seen.any():
            blind.append(cam)
    if not blind:
        return
    hint = (f"MODEL.NEAR {near:g} / MODEL.FAR {far:g}: the points' depths are "
            f"{_depth_span(data, train_ids)} (tools/inspect_dataset.py prints them per camera; "
            f"0 takes them from the points)")
    if len(blind) == len(train_ids):
        raise NpcrError(f"{cfg.DATASETS.ROOT}: no training camera sees a point within {hint}")
    logger.warning("WARNING: training cameras %s see no point within %s; they train on the "
                   "background alone", blind, hint)


def _depth_span(data: SceneData, train_ids: list[int]) -> str:
    ranges = scene_depth_range(data.scene, data.points.numpy())[train_ids]
    if not np.isfinite(ranges).any():
        return "behind every training camera"
    return f"{np.nanmin(ranges[:, 0]) / 0.9:.3g} to {np.nanmax(ranges[:, 1]) / 1.1:.3g}"
