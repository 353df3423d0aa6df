"""Non-learned baselines a trained renderer is compared with on the same held-out views: a constant
image of the training photos' mean colour, and a splat of one colour per point (the points' own, or
fitted to the training photos by gradient with no network)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset

import pcpr_ext

from ..data import item_cameras
from ..geometry import Cameras
from ..metrics import psnr


def items(views: Sequence[dict]) -> Iterator[dict]:
    """The views one at a time: a dataset reads each photo when asked, so a long capture is
    never held in memory whole."""
    return (views[i] for i in range(len(views)))


def mean_colour_psnr(train_views: Sequence[dict], val_views: Sequence[dict]) -> float:
    """Mean PSNR on ``val_views`` (dataset items: ``image``, ``valid``) of a constant image of the
    mean colour of ``train_views``."""
    mean = torch.stack([v["image"].mean((1, 2)) for v in items(train_views)]).mean(0)
    return sum(psnr(mean[:, None, None].expand_as(v["image"]), v["image"], v["valid"])
               for v in items(val_views)) / len(val_views)


class PointColourSplat:
    """One RGB per point, splatted with the projector (the nearest point per pixel, squares of
    ``max_splat`` pixels at ``near`` shrinking to 1 at ``far``) at ``supersample`` times the
    resolution and averaged down. With ``opaque`` pixels no point covers show a background colour
    (learned by ``fit``) and alpha is 1; else they are black with alpha 0, like photos premultiplied
    by their matte."""

    def __init__(self, points: torch.Tensor, colors: torch.Tensor, near: float, far: float,
                 max_splat: int = 1, supersample: int = 2, opaque: bool = False):
        self.points, self.colors = points, colors.clone().float()
        self.background = colors.new_zeros(3)
        self.near, self.far, self.max_splat = near, far, max_splat
        self.supersample, self.opaque = supersample, opaque

    def index(self, cameras: Cameras) -> torch.Tensor:
        """(B, s*H, s*W) index of the nearest point at each supersampled pixel, -1 where none."""
        s = self.supersample
        fine = cameras.to(self.points.device).resized(s * cameras.height, s * cameras.width)
        _, index = pcpr_ext.project(self.points, fine.K, fine.cam_to_world, fine.height,
                                    fine.width, num_layers=1, near=self.near, far=self.far,
                                    max_splat=self.max_splat)
        return index[:, 0]

    def shade(self, index: torch.Tensor, colors: torch.Tensor | None = None,
              background: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB (B, 3, H, W) and alpha (B, 1, H, W) from ``index`` (differentiable in ``colors``
        and ``background``, default this splat's)."""
        colors = self.colors if colors is None else colors
        background = self.background if background is None else background
        covered = (index >= 0)[:, None].float()
        rgb = colors[index.clamp_min(0)].permute(0, 3, 1, 2) * covered
        alpha = covered
        if self.opaque:
            rgb = rgb + (1 - covered) * background[None, :, None, None]
            alpha = torch.ones_like(covered)
        s = self.supersample
        return F.avg_pool2d(rgb, s), F.avg_pool2d(alpha, s)

    def render(self, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
        return self.shade(self.index(cameras))

    def fit(self, views: Sequence[dict], epochs: int = 30, lr: float = 0.05) -> float:
        """Fit the colours (and the background when opaque) to ``views`` (dataset items) by Adam on
        the mean squared error of the averaged-down splat; returns the final PSNR on them. Views
        are read and projected in each epoch, not kept (a long capture's photos and indices would
        not fit in memory)."""
        colors = self.colors.clone().requires_grad_(True)
        background = self.background.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([colors, background], lr=lr)
        for _ in range(epochs):
            for v in items(views):
                index = self.index(item_cameras(v))
                rgb, _ = self.shade(index, colors, background)
                loss = (((rgb[0] - v["image"]) ** 2) * v["valid"]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    colors.clamp_(0, 1)
                    background.clamp_(0, 1)
        self.colors, self.background = colors.detach(), background.detach()
        return self.psnr(views)

    @torch.no_grad()
    def psnr(self, views: Sequence[dict]) -> float:
        """Mean PSNR of the splat on ``views`` (over each photo's valid pixels)."""
        total = 0.0
        for v in items(views):
            rgb, _ = self.render(item_cameras(v))
            total += psnr(rgb[0].clamp(0, 1), v["image"], v["valid"])
        return total / len(views)


def fitted_splat(points: torch.Tensor, colors: torch.Tensor | None, near: float, far: float,
                 max_splat: int, opaque: bool, train_views: Sequence[dict],
                 epochs: int = 10) -> tuple[PointColourSplat, float]:
    """The point-colour splat (``max_splat``) fitted to ``train_views`` for ``epochs``, starting
    from the points' ``colors`` when known (else grey), and its PSNR on those views."""
    start = colors if colors is not None else torch.full((len(points), 3), 0.5)
    splat = PointColourSplat(points, start, near, far, max_splat, opaque=opaque)
    return splat, splat.fit(train_views, epochs)


def best_fitted_splat(points: torch.Tensor, colors: torch.Tensor | None, near: float, far: float,
                      train_views: Sequence[dict], opaque: bool, sizes: Sequence[int] = (1, 2, 4),
                      epochs: int = 30) -> tuple[PointColourSplat, int]:
    """The point-colour splat fitted to the training views, with the splat size (of ``sizes``)
    that fits them best; starts from ``colors`` (else grey). Returns it and the size."""
    best, best_psnr, best_size = None, -float("inf"), sizes[0]
    for size in sizes:
        splat, fitted = fitted_splat(points, colors, near, far, size, opaque, train_views, epochs)
        if fitted > best_psnr:
            best, best_psnr, best_size = splat, fitted, size
    return best, best_size


def baseline_psnrs(train_parts: Sequence[Sequence[dict]], val_parts: Sequence[Sequence[dict]],
                   clouds: Sequence[tuple[torch.Tensor, torch.Tensor | None]], near: float,
                   far: float, max_splat: int, opaque: bool, epochs: int = 10) -> dict[str, float]:
    """Held-out PSNR of the mean colour and of the point-colour splat (``max_splat``, fitted for
    ``epochs`` from the points' colours when known), averaged over the frames; part f of
    ``train_parts`` / ``val_parts`` holds the views of the frame whose (points, colours) are
    ``clouds[f]``."""
    splat = [fitted_splat(points, colors, near, far, max_splat, opaque, train, epochs)[0].psnr(val)
             for train, val, (points, colors) in zip(train_parts, val_parts, clouds)]
    return {"mean_colour": mean_colour_psnr(ConcatDataset(train_parts), ConcatDataset(val_parts)),
            "point_colour_splat": sum(splat) / len(splat)}
