"""U-Net with antialiased downsampling (max-pool at stride 1, then a blur-pool: antialiased-cnns'
``BlurPool``, or npcr's own ``BlurPool`` with the same outputs)."""
from __future__ import annotations

import antialiased_cnns
import torch
import torch.nn as nn
import torch.nn.functional as F


def group_norm_by_reduction(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None,
                            bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """``F.group_norm`` with each group's statistics from one ``var_mean`` over its channels and
    pixels (in float32), then one scale-and-shift per channel in the input's dtype: two passes
    over ``x`` and four tiny kernels (a render launches this at every layer; launches add up)."""
    n, c = x.shape[:2]
    g, per_group = num_groups, c // num_groups
    var, mean = torch.var_mean(x.reshape(n, g, -1).float(), dim=-1, unbiased=False)
    scale = (var + eps).rsqrt_()[:, :, None].expand(n, g, per_group)  # (n, g, c/g)
    if weight is not None:
        scale = scale * weight.view(g, per_group)
    mean = mean[:, :, None]
    shift = (mean * scale).neg_() if bias is None else \
        torch.addcmul(bias.view(g, per_group), mean, scale, value=-1)
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


class BlurPool(nn.Module):
    """Anti-aliased halving (R. Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML
    2019): each channel blurred by the 4x4 binomial filter [1 3 3 1]^T [1 3 3 1] / 64 over the input
    padded by reflection (1 pixel before, 2 after), every second pixel kept.

    npcr's own implementation (MIT): the same outputs, bit for bit, and the same state-dict entry
    (``filt``) as ``antialiased_cnns.BlurPool(channels, stride=2)``, whose licence (CC BY-NC-SA 4.0)
    allows non-commercial use only; a checkpoint made with either loads into the other."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.register_buffer("filt", (torch.outer(taps, taps) / 64).expand(channels, 1, 4, 4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 2, 1, 2), mode="reflect"), self.filt, stride=2,
                        groups=x.shape[1])


# MODEL.BLUR_POOL: the blur-pool the U-Net halves with (same outputs; the licences differ)
BLUR_POOLS = {"antialiased-cnns": lambda channels: antialiased_cnns.BlurPool(channels, stride=2),
              "npcr": BlurPool}


def _conv_block(cin: int, cout: int, first_kernel: int = 3) -> nn.Sequential:
    """Two convolutions (the first ``first_kernel`` square, the second 3x3), each with GroupNorm
    (groups of 8 channels) and LeakyReLU.

    The normalisation keeps training from collapsing to an all-background output early on.
    """
    groups = max(1, cout // 8)
    return nn.Sequential(
        nn.Conv2d(cin, cout, first_kernel, padding=first_kernel // 2), GroupNorm(groups, cout),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), GroupNorm(groups, cout), nn.LeakyReLU(0.2, inplace=True))


class _Down(nn.Module):
    """Antialiased halving, then a conv block; ``extra`` channels (a point rendering at the halved
    resolution) join the pooled ones before the convolutions."""

    def __init__(self, cin: int, cout: int, extra: int = 0, blur_pool: str = "antialiased-cnns"):
        super().__init__()
        self.pool = nn.Sequential(nn.MaxPool2d(2, stride=1), BLUR_POOLS[blur_pool](cin))
        self.conv = _conv_block(cin + extra, cout)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        x = self.pool(x)
        return self.conv(x if extra is None else torch.cat([x, extra.to(x.dtype)], dim=1))


class _Up(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = _conv_block(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class AntialiasedUNet(nn.Module):
    """Maps (B, in_channels, H, W) to (B, out_channels, H, W) for any H, W (padded internally).

    ``level_inputs[k]`` channels more enter level k + 1 (at 1 / 2^(k+1) of the input's size), as
    NPBG and ADOP feed point renderings at several resolutions; their inputs must then come at
    ``padded_size``. ``input_kernel`` is the first convolution's size: 1 mixes each pixel's input
    channels (say its supersamples and depth layers) before any neighbour's, at a ninth of the
    cost of 3 on the widest map. ``blur_pool`` names the halving's blur-pool (``BLUR_POOLS``)."""

    def __init__(self, in_channels: int, out_channels: int, channels: list[int],
                 level_inputs: list[int] = (), input_kernel: int = 3,
                 blur_pool: str = "antialiased-cnns"):
        super().__init__()
        if len(level_inputs) > len(channels) - 1:
            raise ValueError(f"{len(level_inputs)} level inputs for {len(channels) - 1} levels")
        if input_kernel < 1 or input_kernel % 2 == 0:
            raise ValueError(f"input_kernel {input_kernel} must be odd and >= 1")
        extra = list(level_inputs) + [0] * (len(channels) - 1 - len(level_inputs))
        self.level_inputs = len(level_inputs)
        self.inc = _conv_block(in_channels, channels[0], input_kernel)
        self.downs = nn.ModuleList(_Down(a, b, e, blur_pool)
                                   for a, b, e in zip(channels[:-1], channels[1:], extra))
        self.ups = nn.ModuleList(_Up(b, a, a) for a, b in zip(channels[:-1], channels[1:]))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self.multiple = 2 ** (len(channels) - 1)

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the input is padded to: a multiple of the total stride, so every level halves
        exactly, and at least 4 pixels at the coarsest level (BlurPool's reflect padding)."""
        m = self.multiple
        return max(-(-height // m) * m, 4 * m), max(-(-width // m) * m, 4 * m)

    def forward(self, x: torch.Tensor, levels: list[torch.Tensor] = (),
                size: tuple[int, int] | None = None) -> torch.Tensor:
        """``levels``: the ``level_inputs`` tensors, coarsest last; the output is cropped to
        ``size`` (default the input's)."""
        h, w = size or x.shape[-2:]
        if len(levels) != self.level_inputs:
            raise ValueError(f"the U-Net takes {self.level_inputs} level inputs, got {len(levels)}")
        ph, pw = self.padded_size(*x.shape[-2:])
        if levels and (ph, pw) != tuple(x.shape[-2:]):
            raise ValueError(f"with level inputs the input must be {ph}x{pw}, got "
                             f"{tuple(x.shape[-2:])}")
        if (ph, pw) != tuple(x.shape[-2:]):
            x = F.pad(x, (0, pw - x.shape[-1], 0, ph - x.shape[-2]), mode="replicate")
        if x.device.type == "cpu":  # oneDNN's convolutions are faster on pixel-major (NHWC) maps
            x = x.contiguous(memory_format=torch.channels_last)
            levels = [t.contiguous(memory_format=torch.channels_last) for t in levels]
        skips = [self.inc(x)]
        for k, down in enumerate(self.downs):
            skips.append(down(skips[-1], levels[k] if k < len(levels) else None))
        y = skips.pop()
        for up in reversed(self.ups):
            y = up(y, skips.pop())
        return self.head(y)[..., :h, :w]
