"""``pcpr_ext.project``: argument checks, normalisation and backend dispatch."""
from __future__ import annotations

import math
from typing import Union

import torch

from .reference import project_reference

try:
    from . import _C
except ImportError:  # built with NPCR_NO_EXT=1, or not built yet
    _C = None

Range = Union[float, torch.Tensor]

# Limits of the native kernels, checked here for every backend so that all accept the same calls
# (the CPU kernel bins 16-bit row numbers; a splat's side is bounded for its loops).
MAX_SPLAT = 1024
MAX_HEIGHT = 32767


def backends() -> list[str]:
    """Names of the projection backends usable in this process, the reference first."""
    names = ["torch"]
    if _C is not None:
        names.append("cpu")
        if _C.has_cuda() and torch.cuda.is_available():
            names.append("cuda")
    return names


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in ("auto", "torch", "cpu", "cuda"):
        raise ValueError(f"unknown backend {backend!r}; choose auto, torch, cpu or cuda")
    available = backends()
    if backend == "auto":
        if device.type == "cuda":
            return "cuda" if "cuda" in available else "torch"
        return "cpu" if "cpu" in available and device.type == "cpu" else "torch"
    if backend not in available:
        raise RuntimeError(f"backend {backend!r} is not built or has no device; available: "
                           f"{available}")
    if backend != "torch" and device.type != backend:
        raise ValueError(f"backend {backend!r} needs tensors on {backend}, got {device}")
    return backend


def _as_float32(name: str, t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if t.device != device:
        raise ValueError(f"{name} is on {t.device} but points are on {device}")
    return t.detach().to(torch.float32).contiguous()


def _is_number(value: Range) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range(name: str, value: Range, batch: int, device: torch.device) -> torch.Tensor:
    if _is_number(value):
        # made on the device, not copied there: no transfer on every call
        return torch.full((batch,), float(value), dtype=torch.float32, device=device)
    t = torch.as_tensor(value, dtype=torch.float32, device=device).detach()
    if t.dim() == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must be a float or a ({batch},) tensor, got shape {tuple(t.shape)}")
    return t.contiguous()


def _valid_range(near: Range, far: Range, near_t: torch.Tensor, far_t: torch.Tensor) -> bool:
    """0 < near < far < inf in float32, decided on the host for numbers (a check of GPU tensors
    waits for the GPU, which a render makes several times a frame)."""
    if _is_number(near) and _is_number(far):
        n, f = torch.tensor([near, far], dtype=torch.float32).tolist()
        return 0 < n < f < math.inf
    return bool(((near_t > 0) & (near_t < far_t) & torch.isfinite(far_t)).all())


def check_projection_args(points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor,
                          height: int, width: int, num_layers: int, near: Range, far: Range,
                          max_splat: int):
    """Validate and normalise arguments: float32 contiguous tensors, (B, 3, 4) poses, (B,) near/far."""
    if not isinstance(points, torch.Tensor):
        raise TypeError(f"points must be a torch.Tensor, got {type(points).__name__}")
    device = points.device
    points = _as_float32("points", points, device)
    if points.dim() != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {tuple(points.shape)}")
    K = _as_float32("K", K, device)
    if K.dim() != 3 or K.shape[1:] != (3, 3):
        raise ValueError(f"K must have shape (B, 3, 3), got {tuple(K.shape)}")
    cam_to_world = _as_float32("cam_to_world", cam_to_world, device)
    if cam_to_world.dim() != 3 or cam_to_world.shape[1:] not in ((3, 4), (4, 4)):
        raise ValueError(f"cam_to_world must have shape (B, 3, 4) or (B, 4, 4), "
                         f"got {tuple(cam_to_world.shape)}")
    if cam_to_world.shape[0] != K.shape[0]:
        raise ValueError(f"K has {K.shape[0]} cameras but cam_to_world has {cam_to_world.shape[0]}")
    cam_to_world = cam_to_world[:, :3, :].contiguous()
    for name, value in (("height", height), ("width", width), ("num_layers", num_layers),
                        ("max_splat", max_splat)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if max_splat > MAX_SPLAT:
        raise ValueError(f"max_splat must be in [1, {MAX_SPLAT}], got {max_splat}")
    if height > MAX_HEIGHT:
        raise ValueError(f"images of at most {MAX_HEIGHT} rows, got {height}")
    batch = K.shape[0]
    near_t = _range("near", near, batch, device)
    far_t = _range("far", far, batch, device)
    if not _valid_range(near, far, near_t, far_t):
        raise ValueError(f"need 0 < near < far < inf, got near={near}, far={far}")
    return points, K, cam_to_world, near_t, far_t


def project(points: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor, height: int,
            width: int, num_layers: int = 1, near: Range = 0.1, far: Range = 100.0,
            max_splat: int = 1, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Splat ``points`` into B cameras; return depth-peeled layers.

    Returns ``depth`` (B, L, H, W) float32, 0 where empty, and ``index`` (B, L, H, W) int64, -1 where
    empty. See pcpr_ext/PROJECTION.md for the exact semantics every backend shares.
    """
    args = check_projection_args(points, K, cam_to_world, height, width, num_layers, near, far,
                                 max_splat)
    points, K, cam_to_world, near_t, far_t = args
    chosen = _resolve_backend(backend, points.device)
    with torch.no_grad():
        if chosen == "torch":
            return project_reference(points, K, cam_to_world, height, width, num_layers, near_t,
                                     far_t, max_splat)
        return _C.project(points, K, cam_to_world, height, width, num_layers, near_t, far_t,
                          max_splat)
