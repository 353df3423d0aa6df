"""Pure-torch reference projector: the twin that defines the answer of every backend.

Implements pcpr_ext/PROJECTION.md with vectorised tensor ops: each point is expanded into the
pixels of its splat square, each pixel keeps the minimum of a packed ``(depth bits << 32) | index`` key
(``scatter_reduce`` "amin"), and layer ``l`` repeats the pass over keys strictly greater than layer
``l-1``'s. Memory stays bounded by processing the points in chunks.
"""
from __future__ import annotations

from typing import Iterator

import torch

EMPTY_KEY = torch.iinfo(torch.int64).max
# Candidate (camera, point, splat pixel) triples materialised at once; bounds the reference's memory.
_CHUNK_CANDIDATES = 1 << 22


def camera_space(points: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
    """``Xc = R^T (Xw - t)`` for every camera, (B, N, 3), summed in the contract's order (no matmul)."""
    rot = cam_to_world[:, :3, :3]
    d = points[None, :, :] - cam_to_world[:, None, :3, 3]
    cols = []
    for j in range(3):
        r = rot[:, :, j]  # column j: camera axis j in world coordinates
        cols.append(d[..., 0] * r[:, None, 0] + d[..., 1] * r[:, None, 1] + d[..., 2] * r[:, None, 2])
    return torch.stack(cols, dim=-1)


def _candidates(points: torch.Tensor, start: int, K: torch.Tensor, cam_to_world: torch.Tensor,
                height: int, width: int, near: torch.Tensor, far: torch.Tensor,
                max_splat: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel ids (over B*H*W) and packed keys of every splat pixel of ``points`` inside the image."""
    xc = camera_space(points, cam_to_world)
    x, y, z = xc.unbind(-1)
    k = K[:, None]
    u = (k[..., 0, 0] * x + k[..., 0, 1] * y) / z + k[..., 0, 2]
    v = k[..., 1, 1] * y / z + k[..., 1, 2]
    near_b, far_b = near[:, None], far[:, None]
    keep = torch.isfinite(points).all(-1)[None] & (z >= near_b) & (z <= far_b)
    col = torch.floor(u + 0.5)
    row = torch.floor(v + 0.5)
    side = torch.clamp(torch.floor(max_splat * (far_b - z) / (far_b - near_b)), 1, max_splat)
    half = torch.floor((side - 1) / 2)
    col0, row0 = col - half, row - half
    # NaN compares false, so non-finite projections drop out here too.
    keep &= (col0 + side > 0) & (col0 < width) & (row0 + side > 0) & (row0 < height)
    cam, pt = keep.nonzero(as_tuple=True)
    side_i = side[cam, pt].long()
    col0_i, row0_i = col0[cam, pt].long(), row0[cam, pt].long()
    depth_bits = z[cam, pt].contiguous().view(torch.int32).long()
    key = (depth_bits << 32) | (pt + start)

    offs = torch.arange(max_splat, device=points.device)
    dy, dx = offs[:, None], offs[None, :]  # (S, 1), (1, S)
    r = row0_i[:, None, None] + dy
    c = col0_i[:, None, None] + dx
    inside = ((dy < side_i[:, None, None]) & (dx < side_i[:, None, None])
              & (r >= 0) & (r < height) & (c >= 0) & (c < width))
    pix = (cam[:, None, None] * height + r) * width + c
    key = key[:, None, None].expand_as(pix)
    return pix[inside], key[inside]


def _chunks(n: int, batch: int, max_splat: int) -> Iterator[tuple[int, int]]:
    step = max(1, _CHUNK_CANDIDATES // (batch * max_splat * max_splat))
    for start in range(0, n, step):
        yield start, min(n, start + step)


def project_reference(points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                      height: int, width: int, num_layers: int, near: torch.Tensor,
                      far: torch.Tensor, max_splat: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth-peeled z-buffer. Inputs are already validated (see ``pcpr_ext.project``).

    points (N, 3) float32, K (B, 3, 3) float32, cam_to_world (B, 3, 4) float32, near/far (B,) float32.
    Returns depth (B, L, H, W) float32 (0 where empty) and index (B, L, H, W) int64 (-1 where empty).
    """
    batch = K.shape[0]
    n_pix = batch * height * width
    layers = []
    prev = None
    for _ in range(num_layers):
        cur = torch.full((n_pix,), EMPTY_KEY, dtype=torch.int64, device=points.device)
        for start, stop in _chunks(points.shape[0], batch, max_splat):
            pix, key = _candidates(points[start:stop], start, K, cam_to_world, height, width,
                                   near, far, max_splat)
            if prev is not None:
                later = key > prev[pix]
                pix, key = pix[later], key[later]
            cur.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
        layers.append(cur)
        prev = cur
    keys = torch.stack(layers, 0).view(num_layers, batch, height, width).transpose(0, 1)
    return unpack_keys(keys)


def unpack_keys(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split packed keys into (depth float32, index int64); EMPTY_KEY becomes (0, -1)."""
    empty = keys == EMPTY_KEY
    depth = (keys >> 32).to(torch.int32).view(torch.float32).masked_fill(empty, 0.0)
    index = (keys & 0xFFFFFFFF).masked_fill(empty, -1)
    return depth.contiguous(), index.contiguous()
