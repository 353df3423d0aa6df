"""The neural point renderer: learned point features, depth-peeled gathering, antialiased U-Net."""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import pcpr_ext

from ..geometry import Cameras
from .photometric import PhotometricCorrection
from .poses import flow_to_pose
from .unet import AntialiasedUNet


class PointRenderer(nn.Module):
    """Renders RGB + alpha of a point cloud from cameras.

    Per-point features (N, C) and a background feature (C,) are gathered through L projected layers,
    concatenated to L*C channels and decoded by the U-Net into RGB and alpha (sigmoid). With
    ``supersample`` s the points are projected at s times the resolution and each pixel's s x s
    samples enter the U-Net side by side (s² L C channels); with ``point_levels`` P the points are
    also projected at 1/2 .. 1/2^(P-1) of the resolution and enter the U-Net's matching levels, so
    coarse levels see a filled image however sparse the cloud is at the output's resolution. With
    ``splat_skip`` the U-Net's RGB corrects a splat of the points' colours (``splat_colours``)
    rather than making the image alone. An ``opaque`` renderer (trained on photos without mattes)
    renders alpha 1 everywhere; a ``photometric`` correction, when given, makes renders for
    training photos look like them.
    """

    def __init__(self, num_points: int, feature_dim: int, num_layers: int, unet_channels: list[int],
                 max_splat: int = 1, near: float = 0.1, far: float = 100.0, backend: str = "auto",
                 opaque: bool = False, photometric: PhotometricCorrection | None = None,
                 environment: tuple[int, int] = (0, 0), supersample: int = 1,
                 point_levels: int = 1, max_render_scale: float = 0.0,
                 view_direction: bool = False, splat_skip: bool = False, input_kernel: int = 3,
                 blur_pool: str = "antialiased-cnns"):
        super().__init__()
        if splat_skip and feature_dim < 3:
            raise ValueError(f"splat_skip reads colours from 3 feature channels, not {feature_dim}")
        if supersample < 1 or not 1 <= point_levels <= len(unet_channels):
            raise ValueError(f"supersample {supersample} must be >= 1 and point_levels "
                             f"{point_levels} in 1..{len(unet_channels)}")
        self.opaque, self.photometric = opaque, photometric
        self.features = nn.Parameter(torch.randn(num_points, feature_dim))
        self.background = nn.Parameter(torch.zeros(feature_dim))
        # pixels no point covers: one learned feature, or with ``environment`` (rows, columns) a
        # learned feature map over the viewing directions (equirectangular), as sky and far
        # surroundings behind a captured object look from every camera
        self.environment = nn.Parameter(torch.zeros(feature_dim, *environment)) \
            if min(environment) > 0 else None
        per_level = num_layers * feature_dim
        # with ``view_direction`` each pixel's viewing direction (world, unit) enters too, for
        # appearance that changes with the view (shine on fur, real photos)
        self.view_direction, self.splat_skip = view_direction, splat_skip
        self.unet = AntialiasedUNet(supersample ** 2 * per_level + 3 * view_direction, 4,
                                    unet_channels, [per_level] * (point_levels - 1), input_kernel,
                                    blur_pool)
        self.num_layers, self.max_splat = num_layers, max_splat
        self.near, self.far, self.backend = near, far, backend
        self.supersample, self.point_levels = supersample, point_levels
        # Focal length (pixels) of the training photos as the network saw them; a render from a
        # camera more than ``max_render_scale`` times finer is made at that scale and upsampled
        # (``render_scale``). 0 turns this off.
        self.reference_focal, self.max_render_scale = 0.0, max_render_scale
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

    def depth_layers(self, points: torch.Tensor,
                     cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth (B, L, H, W) and point index (B, L, H, W) of ``points`` seen by the cameras; layers
        past ``active_layers`` are empty (depth 0, index -1)."""
        depth, index = pcpr_ext.project(points, cameras.K, cameras.cam_to_world, cameras.height,
                                        cameras.width,
                                        num_layers=self.active_layers, near=self.near,
                                        far=self.far, max_splat=self.max_splat,
                                        backend=self.backend)
        missing = self.num_layers - self.active_layers
        if missing > 0:
            depth = torch.cat([depth, depth.new_zeros(depth.shape[0], missing, *depth.shape[2:])], 1)
            index = torch.cat([index, index.new_full((index.shape[0], missing, *index.shape[2:]),
                                                     -1)], 1)
        return depth, index

    def level_cameras(self, cameras: Cameras) -> list[Cameras]:
        """The cameras of each point rendering the U-Net takes: the input (``supersample`` times
        the U-Net's padded size), then each further point level at half the last."""
        padded = cameras.padded(*self.unet.padded_size(cameras.height, cameras.width))
        ph, pw, s = padded.height, padded.width, self.supersample
        return [padded.resized(s * ph, s * pw)] + \
            [padded.resized(ph >> k, pw >> k) for k in range(1, self.point_levels)]

    def rasterize(self, clouds: "FrameClouds", frames: list[int],
                  cameras: Cameras) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Depth and feature-row index (B, L, h, w) at each of ``level_cameras``; camera b sees
        the cloud of ``frames[b]``."""
        # runs of cameras seeing the same frame, taken as slices (indexing with a list of cameras
        # would copy it to the GPU, which waits for the GPU and cannot be held in a CUDA graph)
        runs, start = [], 0
        for frame, run in itertools.groupby(frames):
            runs.append((frame, start, start + len(list(run))))
            start = runs[-1][2]
        levels = []
        for level in self.level_cameras(cameras.detach()):
            parts = [self.depth_layers(clouds.points[f], level[a:b]) for f, a, b in runs]
            index = [feature_rows(i, clouds.offsets[f]) for (_, i), (f, _, _) in zip(parts, runs)]
            levels.append((torch.cat([d for d, _ in parts]), torch.cat(index))
                          if len(runs) > 1 else (parts[0][0], index[0]))
        return levels

    def environment_features(self, cameras: Cameras) -> torch.Tensor:
        """(B, C, H, W) background feature + environment map at each pixel's viewing direction."""
        d = cameras.directions()
        azimuth = torch.atan2(d[..., 0], d[..., 2]) / torch.pi  # [-1, 1]
        elevation = torch.asin(d[..., 1].clamp(-1, 1)) / (torch.pi / 2)
        grid = torch.stack([azimuth, elevation], -1)
        env = F.grid_sample(self.environment[None].expand(len(cameras), -1, -1, -1), grid,
                            mode="bilinear", padding_mode="border", align_corners=False)
        return env + self.background[None, :, None, None]

    def gather(self, index: torch.Tensor, background: torch.Tensor | None, unshuffle: int = 1,
               lookup: pcpr_ext.FeatureLookup | None = None) -> torch.Tensor:
        """(B, L*C*u², H/u, W/u) features of the points ``index`` (B, L, H, W) names, each u x u
        block of pixels side by side in the channels (``F.pixel_unshuffle``'s order: layer,
        feature, row, column) for ``unshuffle`` u; ``background`` (B, C, H, W) where no point is
        (default: the learned background feature). One copy of the features in all; ``lookup``
        (the features made ready once) serves several calls of one render."""
        b, layers, h, w = index.shape
        u, hu, wu = unshuffle, h // unshuffle, w // unshuffle
        lookup = lookup or pcpr_ext.FeatureLookup(self.features, self.background)
        if index.device.type == "cpu":
            # in pixel-major (channels-last) memory, the layout the U-Net convolves in on the CPU,
            # written block by block (a 64-channel 512² map took ~30 ms to transpose as a whole)
            return lookup.blocks(index, u, background).permute(0, 3, 1, 2)
        # the (small, integer) index is rearranged so that each layer's features come out of the
        # lookup already in (C, u, u, H/u, W/u) order: the features are written once
        blocks = index.view(b, layers, hu, u, wu, u).permute(0, 1, 3, 5, 2, 4)
        blocks = blocks.reshape(b, layers, u * u * hu, wu)
        feats = lookup(blocks)
        if background is not None:  # (B, C, H, W) in the same order
            background = background.view(b, -1, hu, u, wu, u).permute(0, 1, 3, 5, 2, 4)
            feats = torch.where(blocks[:, :, None] < 0,
                                background.reshape(b, 1, -1, u * u * hu, wu).to(feats.dtype), feats)
        return feats.reshape(b, -1, hu, wu)

    def decode(self, levels: list[tuple[torch.Tensor, torch.Tensor]],
               cameras: Cameras) -> dict[str, torch.Tensor]:
        """RGB (B, 3, H, W) and alpha (B, 1, H, W) in [0, 1], and layer-0 ``depth`` (B, L, H, W),
        from the point renderings ``rasterize`` made for these cameras."""
        height, width = cameras.size
        cams = self.level_cameras(cameras.detach())
        lookup = pcpr_ext.FeatureLookup(self.features, self.background)
        feats = [self.gather(index, self.background_map(level_cams),
                             self.supersample if level == 0 else 1, lookup)
                 for level, ((_, index), level_cams) in enumerate(zip(levels, cams))]
        if self.view_direction:
            d = cameras.detach().padded(*feats[0].shape[-2:]).directions()
            feats[0] = torch.cat([feats[0], d.permute(0, 3, 1, 2).to(feats[0].dtype)], 1)
        logits = self.unet(feats[0], feats[1:], size=(height, width))
        if self.splat_skip:
            splat = torch.logit(self.splat_colours(feats[0], height, width))
            logits = torch.cat([logits[:, :3] + splat.to(logits.dtype), logits[:, 3:]], 1)
        out = torch.sigmoid(logits)
        alpha = torch.ones_like(out[:, 3:]) if self.opaque else out[:, 3:]
        depth = filled_depth(levels, self.supersample)[..., :height, :width]
        return {"rgb": out[:, :3], "alpha": alpha, "depth": depth}

    def splat_colours(self, feats: torch.Tensor, height: int, width: int,
                      margin: float = 0.02) -> torch.Tensor:
        """(B, 3, H, W) colours of the nearest points from the U-Net's input ``feats`` (``gather``'s
        layout, layer 0 first): feature channels 0-2 mapped from [-1, 1]
        (``init_features_from_colors``) to [0, 1], averaged over each pixel's supersamples and kept
        ``margin`` inside (0, 1) so that their logits stay finite."""
        n = self.supersample ** 2
        colours = feats[:, :3 * n].reshape(feats.shape[0], 3, n, *feats.shape[-2:]).mean(2)
        return ((colours[..., :height, :width] + 1) / 2).clamp(margin, 1 - margin)

    def render_cloud(self, points: torch.Tensor, cameras: Cameras) -> dict[str, torch.Tensor]:
        """Render one cloud whose points are feature rows 0..N-1: ``rgb``, ``alpha``, ``depth``."""
        return self(FrameClouds({0: points}), [0] * len(cameras), cameras)

    def background_map(self, cameras: Cameras) -> torch.Tensor | None:
        """The environment's features for these cameras, or None without an environment."""
        if self.environment is None:
            return None
        return self.environment_features(cameras.detach())

    def render_scale(self, cameras: Cameras) -> int:
        """By how much a render from ``cameras`` is made coarser, then upsampled: 1 in training
        and up to ``max_render_scale`` times the training photos' focal length; beyond, the
        points are too sparse for the pixels (the network never saw them so) and the render is
        made at that scale instead."""
        if self.training or not (self.reference_focal > 0 and self.max_render_scale > 0):
            return 1
        ratio = float(cameras.K[:, 0, 0].median()) / self.reference_focal
        return max(1, math.ceil(ratio / self.max_render_scale - 1e-6))

    def forward(self, clouds: "FrameClouds", frames: list[int], cameras: Cameras,
                photos: torch.Tensor | None = None, scale: int | None = None,
                surface: bool = False) -> dict[str, torch.Tensor]:
        """Render camera b of ``cameras`` (B) with the cloud of ``frames[b]`` (its points own
        their feature rows): ``rgb`` (B, 3, H, W), ``alpha`` (B, 1, H, W), ``depth``
        (B, L, H, W). When the cameras' ``cam_to_world`` requires grad (pose refinement), the
        outputs carry a gradient to it (npcr.modeling.poses), and ``rgb_fixed_pose`` holds the
        same RGB without that gradient (for loss terms that must not move the cameras).
        ``photos`` (B,) camera ids apply those photos' photometric correction (when the model has
        one). ``scale`` overrides ``render_scale`` (which reads K on the host). With ``surface``
        (training scale only) also ``surface`` (B, H, W, 3), the world position of the point each
        pixel shows (layer 0), where ``covered`` (B, H, W)."""
        height, width = cameras.size
        q = self.render_scale(cameras) if scale is None else scale
        if q > 1 and not surface:
            out = self(clouds, frames, cameras.resized(-(-height // q), -(-width // q)), photos,
                       scale=1)
            for key in ("rgb", "alpha"):
                out[key] = F.interpolate(out[key], size=(height, width), mode="bilinear",
                                         align_corners=False)
            out["depth"] = F.interpolate(out["depth"], size=(height, width), mode="nearest")
            return out
        levels = self.rasterize(clouds, frames, cameras)
        out = self.decode(levels, cameras)
        if surface or cameras.cam_to_world.requires_grad:
            s = self.supersample
            index = levels[0][1][:, 0, ::s, ::s][:, :height, :width]
            points, covered = clouds.positions(frames, index), index >= 0
            if surface:
                out["surface"], out["covered"] = points, covered
        if cameras.cam_to_world.requires_grad:
            rgba = flow_to_pose(torch.cat([out["rgb"], out["alpha"]], 1), points, covered,
                                cameras)
            out["rgb_fixed_pose"] = out["rgb"]
            out["rgb"], out["alpha"] = rgba[:, :3], rgba[:, 3:]
        if photos is not None and self.photometric is not None:
            for key in ("rgb", "rgb_fixed_pose"):
                if key in out:
                    out[key] = self.photometric(out[key], photos, cameras)
        return out


def filled_depth(levels: list[tuple[torch.Tensor, torch.Tensor]], supersample: int
                 ) -> torch.Tensor:
    """(B, L, H, W) depth of each layer at the U-Net's (padded) pixels from ``rasterize``'s
    ``levels``: the nearest point among the pixel's ``supersample``² samples, else, where none of
    them hit one, the first coarser point level's (nearest-upsampled), else 0. A sparse cloud
    rendered larger than its points leaves most samples empty; the filled depth still covers
    the surface there (as temporal reprojection needs)."""
    fine = levels[0][0]
    depth = torch.where(fine > 0, fine, torch.full_like(fine, torch.inf))
    if supersample > 1:
        depth = -F.max_pool2d(-depth, supersample)
    for coarse, _ in levels[1:]:
        up = F.interpolate(coarse, size=depth.shape[-2:], mode="nearest")
        depth = torch.where(torch.isinf(depth) & (up > 0), up, depth)
    return torch.where(torch.isinf(depth), torch.zeros_like(depth), depth)


def feature_rows(index: torch.Tensor, offset: int) -> torch.Tensor:
    """Feature-table rows of a projection's point ``index`` into a cloud whose points start at row
    ``offset`` (-1 stays -1)."""
    return torch.where(index >= 0, index + offset, index) if offset else index


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

    def positions(self, frames: list[int], index: torch.Tensor) -> torch.Tensor:
        """(B, ..., 3) world position of the feature rows ``index`` (B, ...) names in the cloud of
        ``frames[b]`` (zero where the index is -1)."""
        out = index.new_zeros(index.shape + (3,), dtype=self.points[frames[0]].dtype)
        for frame in sorted(set(frames)):
            rows = [i for i, f in enumerate(frames) if f == frame]
            local = index[rows] - self.offsets[frame]
            out[rows] = torch.where((index[rows] >= 0)[..., None],
                                    self.points[frame][local.clamp_min(0)], 0.0)
        return out

    def to(self, device: torch.device) -> "FrameClouds":
        return FrameClouds({f: p.to(device) for f, p in self.points.items()}, self.shared)
