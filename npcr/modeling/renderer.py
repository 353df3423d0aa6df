"""The neural point renderer: learned point features, depth-peeled gathering, antialiased U-Net."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

import pcpr_ext

from ..geometry import camera_rays
from .photometric import PhotometricCorrection
from .poses import flow_to_pose
from .unet import AntialiasedUNet


class PointRenderer(nn.Module):
    """Renders RGB + alpha of a point cloud from cameras.

    Per-point features (N, C) and a background feature (C,) are gathered through L projected layers,
    concatenated to L*C channels and decoded by the U-Net into RGB and alpha (sigmoid). An
    ``opaque`` renderer (trained on photos without mattes) renders alpha 1 everywhere; a
    ``photometric`` correction, when given, makes renders for training photos look like them.
    """

    def __init__(self, num_points: int, feature_dim: int, num_layers: int, unet_channels: list[int],
                 max_splat: int = 1, near: float = 0.1, far: float = 100.0, backend: str = "auto",
                 opaque: bool = False, photometric: PhotometricCorrection | None = None,
                 environment: tuple[int, int] = (0, 0)):
        super().__init__()
        self.opaque, self.photometric = opaque, photometric
        self.features = nn.Parameter(torch.randn(num_points, feature_dim))
        self.background = nn.Parameter(torch.zeros(feature_dim))
        # pixels no point covers: one learned feature, or with ``environment`` (rows, columns) a
        # learned feature map over the viewing directions (equirectangular), as sky and far
        # surroundings behind a captured object look from every camera
        self.environment = nn.Parameter(torch.zeros(feature_dim, *environment)) \
            if min(environment) > 0 else None
        self.unet = AntialiasedUNet(num_layers * feature_dim, 4, unet_channels)
        self.num_layers, self.max_splat = num_layers, max_splat
        self.near, self.far, self.backend = near, far, backend
        # Layers filled by the projector (a layer schedule lowers it); the rest stay empty.
        self.active_layers = num_layers

    @torch.no_grad()
    def init_features_from_colors(self, colors: torch.Tensor, spread: float = 0.1) -> None:
        """Start each point's feature at its colour: channels 0-2 hold RGB mapped to [-1, 1], the
        rest small noise (``spread``), so points a training photo never showed still render near
        their colour instead of random."""
        self.features.normal_(0.0, spread)
        self.features[:, :min(3, self.features.shape[1])] = \
            (colors[:, :self.features.shape[1]].to(self.features) * 2 - 1)

    def project(self, points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth (B, L, H, W) and point index (B, L, H, W) of ``points`` seen by the cameras; layers
        past ``active_layers`` are empty (depth 0, index -1)."""
        depth, index = pcpr_ext.project(points, K, cam_to_world, height, width,
                                        num_layers=self.active_layers, near=self.near,
                                        far=self.far, max_splat=self.max_splat,
                                        backend=self.backend)
        missing = self.num_layers - self.active_layers
        if missing > 0:
            depth = torch.cat([depth, depth.new_zeros(depth.shape[0], missing, *depth.shape[2:])], 1)
            index = torch.cat([index, index.new_full((index.shape[0], missing, *index.shape[2:]),
                                                     -1)], 1)
        return depth, index

    def environment_features(self, K: torch.Tensor, cam_to_world: torch.Tensor, height: int,
                             width: int) -> torch.Tensor:
        """(B, C, H, W) background feature + environment map at each pixel's viewing direction."""
        d = torch.einsum("bij,bhwj->bhwi", cam_to_world[:, :3, :3], camera_rays(K, height, width))
        d = d / d.norm(dim=-1, keepdim=True)
        azimuth = torch.atan2(d[..., 0], d[..., 2]) / torch.pi  # [-1, 1]
        elevation = torch.asin(d[..., 1].clamp(-1, 1)) / (torch.pi / 2)
        grid = torch.stack([azimuth, elevation], -1)
        env = F.grid_sample(self.environment[None].expand(len(K), -1, -1, -1), grid,
                            mode="bilinear", padding_mode="border", align_corners=False)
        return env + self.background[None, :, None, None]

    def decode(self, depth: torch.Tensor, index: torch.Tensor,
               background: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """RGB (B, 3, H, W) and alpha (B, 1, H, W) in [0, 1] from projected layers of feature rows;
        ``background`` (B, C, H, W) features where no point is (default: the learned one)."""
        feats = pcpr_ext.gather_features(self.features, index, self.background)
        if background is not None:
            feats = torch.where(index[:, :, None] < 0, background[:, None].to(feats.dtype), feats)
        out = torch.sigmoid(self.unet(feats.flatten(1, 2)))
        alpha = torch.ones_like(out[:, 3:]) if self.opaque else out[:, 3:]
        return {"rgb": out[:, :3], "alpha": alpha, "depth": depth}

    def render_cloud(self, points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                     height: int, width: int) -> dict[str, torch.Tensor]:
        """Render one cloud whose points are feature rows 0..N-1: ``rgb``, ``alpha``, ``depth``."""
        return self.decode(*self.project(points, K, cam_to_world, height, width),
                           self.background_map(K, cam_to_world, height, width))

    def background_map(self, K: torch.Tensor, cam_to_world: torch.Tensor, height: int,
                       width: int) -> torch.Tensor | None:
        """The environment's features for these cameras, or None without an environment."""
        if self.environment is None:
            return None
        return self.environment_features(K, cam_to_world.detach(), height, width)

    def forward(self, clouds: "FrameClouds", frames: list[int], K: torch.Tensor,
                cam_to_world: torch.Tensor, height: int, width: int,
                photos: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Render camera b with the cloud of ``frames[b]`` (its points own their feature rows):
        ``rgb`` (B, 3, H, W), ``alpha`` (B, 1, H, W), ``depth`` (B, L, H, W). When
        ``cam_to_world`` requires grad (pose refinement), the outputs carry a gradient to it
        (npcr.modeling.poses). ``photos`` (B,) camera ids apply those photos' photometric
        correction (when the model has one)."""
        b = len(frames)
        depth = K.new_zeros((b, self.num_layers, height, width))
        index = torch.full((b, self.num_layers, height, width), -1, dtype=torch.int64,
                           device=K.device)
        surface = K.new_zeros((b, height, width, 3)) if cam_to_world.requires_grad else None
        for frame in sorted(set(frames)):
            rows = [i for i, f in enumerate(frames) if f == frame]
            points, offset = clouds.points[frame], clouds.offsets[frame]
            d, i = self.project(points, K[rows], cam_to_world[rows].detach(), height, width)
            depth[rows], index[rows] = d, torch.where(i >= 0, i + offset, i)
            if surface is not None:
                surface[rows] = points[i[:, 0].clamp_min(0)]
        out = self.decode(depth, index, self.background_map(K, cam_to_world, height, width))
        if surface is not None:
            rgba = flow_to_pose(torch.cat([out["rgb"], out["alpha"]], 1), surface,
                                index[:, 0] >= 0, K, cam_to_world)
            out["rgb"], out["alpha"] = rgba[:, :3], rgba[:, 3:]
        if photos is not None and self.photometric is not None:
            out["rgb"] = self.photometric(out["rgb"], photos, K)
        return out


class FrameClouds:
    """The point clouds of the frames a model is trained on, and which feature rows they use.

    By default frame f's points own rows ``offsets[f] .. offsets[f] + len(points[f])`` of one
    table (so the U-Net is shared). With ``shared`` every frame has the same number of points and
    point i of every frame is the same surface point (a canonical index, as in a tracked or
    deformed cloud): all frames use rows 0 .. N-1, so appearance is learned once for the sequence.
    """

    def __init__(self, points: dict[int, torch.Tensor], shared: bool = False):
        self.points, self.shared = dict(sorted(points.items())), shared
        counts = {frame: pts.shape[0] for frame, pts in self.points.items()}
        if shared and len(set(counts.values())) > 1:
            raise ValueError(f"shared point features need equal point counts; frames have {counts}")
        self.offsets, total = {}, 0
        for frame, count in counts.items():
            self.offsets[frame] = 0 if shared else total
            total = count if shared else total + count
        self.total = total

    def to(self, device: torch.device) -> "FrameClouds":
        return FrameClouds({f: p.to(device) for f, p in self.points.items()}, self.shared)
