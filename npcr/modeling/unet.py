"""U-Net with antialiased downsampling (max-pool at stride 1, then ``antialiased_cnns.BlurPool``)."""
from __future__ import annotations

import antialiased_cnns
import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each with GroupNorm (groups of 8 channels) and LeakyReLU.

    The normalisation keeps training from collapsing to an all-background output early on.
    """
    groups = max(1, cout // 8)
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.2, inplace=True))


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pool = nn.Sequential(nn.MaxPool2d(2, stride=1), antialiased_cnns.BlurPool(cin, stride=2))
        self.conv = _conv_block(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class _Up(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = _conv_block(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class AntialiasedUNet(nn.Module):
    """Maps (B, in_channels, H, W) to (B, out_channels, H, W) for any H, W (padded internally)."""

    def __init__(self, in_channels: int, out_channels: int, channels: list[int]):
        super().__init__()
        self.inc = _conv_block(in_channels, channels[0])
        self.downs = nn.ModuleList(_Down(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.ups = nn.ModuleList(_Up(b, a, a) for a, b in zip(channels[:-1], channels[1:]))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self.multiple = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # Pad to a multiple of the total stride so every level halves exactly, and so the coarsest
        # level keeps >= 4 pixels (BlurPool's reflect padding needs them).
        ph = max(-h % self.multiple, 4 * self.multiple - h)
        pw = max(-w % self.multiple, 4 * self.multiple - w)
        x = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in reversed(self.ups):
            y = up(y, skips.pop())
        return self.head(y)[..., :h, :w]
