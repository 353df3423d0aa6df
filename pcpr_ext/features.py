"""``pcpr_ext.gather_features``: per-pixel point features through the projected layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F

try:
    from . import _C
except ImportError:  # built with NPCR_NO_EXT=1, or not built yet
    _C = None


class FeatureLookup:
    """Point features (N, C) and a background feature (C,) made ready once for several lookups
    (the levels of one render): ``lookup(index)`` is ``gather_features(features, index,
    background)``."""

    def __init__(self, features: torch.Tensor, background: torch.Tensor):
        if features.dim() != 2:
            raise ValueError(f"features must have shape (N, C), got {tuple(features.shape)}")
        if background.shape != (features.shape[1],):
            raise ValueError(f"background must have shape ({features.shape[1]},), "
                             f"got {tuple(background.shape)}")
        self.num_points = features.shape[0]
        # Row 0 of the table is the background, so index -1 maps to it after the shift.
        self.table = torch.cat([background[None].to(features.dtype), features], dim=0)
        self.differentiable = torch.is_grad_enabled() and self.table.requires_grad
        # Without a gradient each channel is gathered straight into place from the transposed
        # table (no transposing copy of the result: about half the time), made at the first
        # lookup of at least as many pixels as the table has rows (for a larger table its copy
        # would cost more than it saves: 20M points at 512² took 0.8 s instead of 0.25); with a
        # gradient, a lookup of rows, whose gradient is a sum into the rows used (the
        # channel-wise gather's would be a dense (B, L, C, N) tensor).
        self.columns: torch.Tensor | None = None

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """(B, L, C, H, W) features at ``index`` (B, L, H, W), the background where it is -1."""
        if index.dim() != 4 or index.dtype != torch.int64:
            raise ValueError(f"index must be an int64 (B, L, H, W) tensor, got {index.dtype} "
                             f"{tuple(index.shape)}")
        self._check_values(index)
        if self.differentiable or (self.columns is None and index.numel() < len(self.table)):
            return self._rows(index).permute(0, 1, 4, 2, 3).contiguous()
        if self.columns is None:
            self.columns = self.table.t().contiguous()
        b, layers, h, w = index.shape
        rows = (index + 1).view(b, layers, 1, h * w).expand(-1, -1, self.columns.shape[0], -1)
        return torch.gather(self.columns[None, None].expand(b, layers, -1, -1), 3,
                            rows).view(b, layers, -1, h, w)

    def blocks(self, index: torch.Tensor, block: int,
               background: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H/u, W/u, L*C*u²) features at ``index`` (int64 (B, L, H, W), values in [-1, N)) in
        blocks of u x u = ``block`` x ``block`` pixels, each block's lookups side by side in
        ``F.pixel_unshuffle``'s channel order (layer, feature, row, column): a U-Net's pixel-major
        (channels-last) input. Where the index is -1: ``background`` (B, C, H, W) at that pixel,
        by default the background feature. On the CPU one native pass writes them
        (``pcpr_ext._C.gather_blocks``; in training its gradient is one native pass too);
        elsewhere, the same values, the rows are looked up and each block's transposed."""
        if index.dtype != torch.int64 or index.dim() != 4:
            raise ValueError(f"index must be an int64 (B, L, H, W) tensor, got {index.dtype} "
                             f"{tuple(index.shape)}")
        b, layers, h, w = index.shape
        u, c = block, self.table.shape[1]
        if h % u or w % u:
            raise ValueError(f"a {h}x{w} index does not split into blocks of {u}x{u}")
        if background is not None and background.shape != (b, c, h, w):
            raise ValueError(f"background must have shape {(b, c, h, w)}, "
                             f"got {tuple(background.shape)}")
        self._check_values(index)
        if _C is not None and index.is_cpu and self.table.dtype == torch.float32:
            if background is not None:
                background = background.to(torch.float32)
            if self.differentiable or (background is not None and background.requires_grad):
                return _BlockGather.apply(self.table, index, u, background)
            return _C.gather_blocks(self.table.contiguous(), index.contiguous(), u,
                                    None if background is None else background.contiguous())
        blocks = index.view(b, layers, h // u, u, w // u, u).permute(0, 2, 4, 1, 3, 5)
        feats = self._rows(blocks)  # B H/u W/u L u u C
        if background is not None:  # the same for every layer
            background = background.view(b, c, h // u, u, w // u, u).permute(0, 2, 4, 3, 5, 1)
            feats = torch.where(blocks[..., None] < 0, background[:, :, :, None].to(feats.dtype),
                                feats)
        # (u u, C) -> (C, u u) within each block's layer, as a batch of small transposes
        feats = feats.reshape(-1, u * u, c).transpose(1, 2)
        return feats.reshape(b, h // u, w // u, -1)

    def _check_values(self, index: torch.Tensor) -> None:
        # Values are checked on the CPU; on a GPU reading them would wait for it at every lookup,
        # and the lookups' own kernels stop at an index out of range (a device-side assert).
        if index.is_cpu and index.numel():
            low, high = torch.aminmax(index)
            if low < -1 or high >= self.num_points:
                raise ValueError(f"index values must lie in [-1, {self.num_points})")

    def _rows(self, index: torch.Tensor) -> torch.Tensor:
        if index.is_cuda:  # its gradient sorts the rows: no atomics piling onto row 0
            return F.embedding(index + 1, self.table)
        # its gradient, an index_add, takes half the time of embedding's on the CPU
        return self.table.index_select(0, (index + 1).flatten()).view(*index.shape, -1)


class _BlockGather(torch.autograd.Function):
    """``_C.gather_blocks`` with its native gradient (training on the CPU): one pass each way
    instead of a row lookup, a transposing copy and their gradients."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor, block: int,
                background: torch.Tensor | None) -> torch.Tensor:
        index = index.contiguous()
        ctx.save_for_backward(index)
        ctx.block, ctx.rows, ctx.has_background = block, table.shape[0], background is not None
        return _C.gather_blocks(table.contiguous(), index, block,
                                None if background is None else background.contiguous())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        grad_table, grad_background = _C.gather_blocks_backward(
            grad.float().contiguous(), index, ctx.block, ctx.rows, ctx.has_background)
        return grad_table, None, None, grad_background if ctx.has_background else None


def gather_features(features: torch.Tensor, index: torch.Tensor,
                    background: torch.Tensor) -> torch.Tensor:
    """Look up ``features`` (N, C) at ``index`` (B, L, H, W); ``background`` (C,) where index is -1.

    Returns (B, L, C, H, W). Differentiable in ``features`` and ``background``; ``index`` carries no
    gradient.
    """
    return FeatureLookup(features, background)(index)
