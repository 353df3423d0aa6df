"""Rendering frames through CUDA graphs: a frame of a few milliseconds is ~150 small kernels,
and on a GPU the host launching them one by one takes longer than the GPU running them. A graph
captured once per render setting (frames, cameras, size, scale, autocast) launches them all at
once; each frame copies its cameras in and replays it."""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..geometry import Cameras
from .renderer import FrameClouds, PointRenderer

log = logging.getLogger(__name__)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    cameras: Cameras  # the inputs the graph reads, written before each replay
    photos: torch.Tensor | None
    outputs: dict[str, torch.Tensor]  # what the graph writes


class GraphedRenderer:
    """``renderer(frames, cameras, photos)`` is ``model(clouds, frames, cameras, photos)``
    (eval mode, no gradient), replayed from a CUDA graph from the second frame of a setting on.

    A setting is captured at its second use (a setting met once, such as a viewer's passing
    window size, is rendered directly), at most ``max_graphs`` are kept (each holds its frame's
    memory), and one whose capture fails (an operation that waits for the GPU) is rendered
    directly from then on. The model's weights and the clouds are read in place (load new
    weights with ``load_state_dict``, which keeps the tensors, not by replacing them); its other
    settings (``active_layers``, ``backend`` ...) as they were at capture. On the CPU, in training
    mode or with a gradient, this is a plain call of the model.
    """

    def __init__(self, model: PointRenderer, clouds: FrameClouds, max_graphs: int = 2):
        self.model, self.clouds, self.max_graphs = model, clouds, max_graphs
        self.graphs: OrderedDict[tuple, _Graph] = OrderedDict()
        self.seen: set[tuple] = set()
        self.failed: set[tuple] = set()

    def __call__(self, frames: list[int], cameras: Cameras,
                 photos: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if not cameras.K.is_cuda or self.model.training or torch.is_grad_enabled() \
                or self.max_graphs < 1:
            return self.model(self.clouds, frames, cameras, photos)
        scale = self.model.render_scale(cameras)  # read on the host here, not inside the graph
        key = (tuple(frames), len(cameras), cameras.size, scale,
               None if photos is None else tuple(photos.shape),
               torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda"))
        entry = self.graphs.get(key)
        if entry is None:
            if key in self.failed or key not in self.seen:
                self.seen.add(key)
                return self.model(self.clouds, frames, cameras, photos, scale=scale)
            entry = self._capture(key, frames, cameras, photos, scale)
            if entry is None:
                return self.model(self.clouds, frames, cameras, photos, scale=scale)
        self.graphs.move_to_end(key)
        entry.cameras.K.copy_(cameras.K)
        entry.cameras.cam_to_world.copy_(cameras.cam_to_world)
        if photos is not None:
            entry.photos.copy_(photos)
        entry.graph.replay()
        return {name: t.clone() for name, t in entry.outputs.items()}

    def _capture(self, key: tuple, frames: list[int], cameras: Cameras,
                 photos: torch.Tensor | None, scale: int) -> _Graph | None:
        """The graph of one setting, or None (remembered) when it cannot be captured."""
        while len(self.graphs) >= self.max_graphs:
            self.graphs.popitem(last=False)
        inputs = [Cameras(cameras.K.clone(), cameras.cam_to_world.clone(), *cameras.size),
                  None if photos is None else photos.clone()]

        def frame() -> dict[str, torch.Tensor]:
            return self.model(self.clouds, frames, inputs[0], inputs[1], scale=scale)

        try:
            # warm-up on a side stream (cuDNN picks its algorithms, lazy buffers are made), as
            # capturing needs
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                frame()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outputs = frame()
        except RuntimeError as exc:
            self.failed.add(key)
            log.warning("rendering %dx%d without a CUDA graph: its capture failed (%s)",
                        cameras.width, cameras.height, str(exc).splitlines()[0])
            return None
        self.graphs[key] = _Graph(graph, *inputs, outputs)
        return self.graphs[key]
