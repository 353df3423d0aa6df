"""U-Net with antialiased downsampling (max-pool at stride 1, then ``antialiased_cnns.BlurPool``)."""
from __future__ import annotations

import antialiased_cnns
import torch
import torch.nn as nn
import torch.nn.functional as F


def group_norm_by_reduction(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None,
                            bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """``F.group_norm`` with each group's statistics from one ``var_mean`` over its channels and
    pixels (in float32), then one scale-and-shift per channel in the input's dtype."""
    n, c = x.shape[:2]
    var, mean = torch.var_mean(x.reshape(n, num_groups, -1).float(), dim=-1, unbiased=False)
    per_group = c // num_groups
    scale = torch.rsqrt(var + eps).repeat_interleave(per_group, dim=1)  # (n, c)
    if weight is not None:
        scale = scale * weight
    shift = -mean.repeat_interleave(per_group, dim=1) * scale
    if bias is not None:
        shift = shift + bias
    shape = (n, c) + (1,) * (x.dim() - 2)
    return torch.addcmul(shift.reshape(shape).to(x.dtype), x, scale.reshape(shape).to(x.dtype))


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` (same parameters, same result) that renders with
    ``group_norm_by_reduction`` on CUDA when no gradient is recorded.

    PyTorch's CUDA kernel gives each (sample, group) one thread block, so one large image (a few
    groups over a million pixels) leaves the GPU nearly idle: on an H200 the demo U-Net's forward
    pass at 1024² took 35 ms with it and 5.6 ms with ``var_mean`` spread over the GPU. Training
    keeps PyTorch's kernel, whose fused backward was faster at 512² crops (10.7 vs 12.9 ms a
    step), and so does the CPU, where PyTorch's kernel is faster (benchmarks/bench_unet.py)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recording = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        if not x.is_cuda or recording:
            return super().forward(x)
        return group_norm_by_reduction(x, self.num_groups, self.weight, self.bias, self.eps)


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each with GroupNorm (groups of 8 channels) and LeakyReLU.

    The normalisation keeps training from collapsing to an all-background output early on.
    """
    groups = max(1, cout // 8)
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), GroupNorm(groups, cout), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), GroupNorm(groups, cout), nn.LeakyReLU(0.2, inplace=True))


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
