"""Optional VGG-16 perceptual loss, from weights on local disk only (never downloaded).

The network is VGG-16's convolutional part laid out as torchvision's ``vgg16().features`` so
torchvision's checkpoint (``vgg16-397923af.pth``, ImageNet) loads as is. torchvision itself is not a
dependency: its PyPI wheels do not import beside the CPU build of torch this project installs.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import NpcrError, one_line
from .checkpoints import load_checkpoint

# Output channels of the 3x3 convolutions, "M" a 2x2 max-pool: VGG-16 up to relu4_3.
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
# Indices in ``features`` of the ReLUs whose activations are compared (relu1_2 ... relu4_3).
_TAPS = (3, 8, 15, 22)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
TORCHVISION_FILE = "vgg16-397923af.pth"


def default_weights_path() -> Path:
    """Where torch hub keeps torchvision's VGG-16 weights when they were downloaded before."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


class VGGPerceptualLoss(nn.Module):
    """Mean L1 distance between VGG-16 activations (relu1_2, relu2_2, relu3_3, relu4_3) of two RGB
    batches in [0, 1]; frozen (it has no layers that train and eval mode tell apart)."""

    def __init__(self, weights_path: str | Path):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for spec in _LAYOUT:
            if spec == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU()]
                channels = spec
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        path = Path(weights_path)
        if not path.is_file():
            raise NpcrError(f"{path}: VGG-16 weights not found; the perceptual loss uses local "
                            f"weights only (torchvision's {TORCHVISION_FILE}); set "
                            f"SOLVER.VGG_WEIGHTS or SOLVER.VGG_WEIGHT 0")
        state = load_checkpoint(path)
        wanted = {k: state.get(f"features.{k}") for k in self.features.state_dict()}
        missing = [k for k, v in wanted.items() if v is None]
        if missing:
            raise NpcrError(f"{path}: not a torchvision VGG-16 state dict (no features.{missing[0]})")
        try:
            self.features.load_state_dict(wanted)
        except RuntimeError as exc:
            raise NpcrError(f"{path}: VGG-16 weights of the wrong shape ({one_line(exc)})") from None
        self.requires_grad_(False)
        self.eval()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([pred, target]) - self.mean) / self.std
        loss = pred.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                a, b = x.chunk(2)
                loss = loss + F.l1_loss(a, b)
        return loss / len(_TAPS)
