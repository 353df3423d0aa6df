"""``pcpr_ext.gather_features``: per-pixel point features through the projected layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gather_features(features: torch.Tensor, index: torch.Tensor,
                    background: torch.Tensor) -> torch.Tensor:
    """Look up ``features`` (N, C) at ``index`` (B, L, H, W); ``background`` (C,) where index is -1.

    Returns (B, L, C, H, W). Differentiable in ``features`` and ``background``; ``index`` carries no
    gradient.
    """
    if features.dim() != 2:
        raise ValueError(f"features must have shape (N, C), got {tuple(features.shape)}")
    if background.shape != (features.shape[1],):
        raise ValueError(f"background must have shape ({features.shape[1]},), "
                         f"got {tuple(background.shape)}")
    if index.dim() != 4 or index.dtype != torch.int64:
        raise ValueError(f"index must be an int64 (B, L, H, W) tensor, got {index.dtype} "
                         f"{tuple(index.shape)}")
    if index.numel() and (int(index.min()) < -1 or int(index.max()) >= features.shape[0]):
        raise ValueError(f"index values must lie in [-1, {features.shape[0]})")
    # Row 0 of the table is the background, so index -1 maps to it after the shift.
    table = torch.cat([background[None].to(features.dtype), features], dim=0)
    if torch.is_grad_enabled() and table.requires_grad:
        # a lookup of rows, whose gradient is a sum into the rows used; then channels forward
        return F.embedding(index + 1, table).permute(0, 1, 4, 2, 3).contiguous()
    # Without a gradient each channel is gathered straight into place (no transposing copy:
    # about half the time); its gradient would be a dense (B, L, C, N) tensor, hence not above.
    b, layers, h, w = index.shape
    rows = (index + 1).view(b, layers, 1, h * w).expand(-1, -1, table.shape[1], -1)
    columns = table.t().contiguous()[None, None].expand(b, layers, -1, -1)
    return torch.gather(columns, 3, rows).view(b, layers, -1, h, w)
