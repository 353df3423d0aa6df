"""Camera geometry, written once for the whole package (OpenCV axes: x right, y down, z forward;
camera-to-world matrices; pixel centres at integer coordinates; the projection of
pcpr_ext/PROJECTION.md). ``Cameras`` is the package's camera type; the functions below are what
its methods do, for code that holds a single matrix. Functions taking arrays accept numpy arrays
or torch tensors alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Cameras:
    """Pinhole cameras that share one image size: intrinsics ``K`` (M, 3, 3), ``cam_to_world``
    (M, 4, 4), both numpy arrays or both torch tensors, and the image ``height`` x ``width`` that
    ``K`` is for. Indexing and slicing give fewer cameras; ``resized`` the same cameras for
    another image size."""

    K: Any
    cam_to_world: Any
    height: int
    width: int

    def __post_init__(self) -> None:
        if self.K.ndim != 3 or self.K.shape[1:] != (3, 3) or \
                tuple(self.cam_to_world.shape) != (self.K.shape[0], 4, 4):
            raise ValueError(f"cameras need K (M, 3, 3) and cam_to_world (M, 4, 4), got "
                             f"{tuple(self.K.shape)} and {tuple(self.cam_to_world.shape)}")
        if min(self.height, self.width) < 1:
            raise ValueError(f"camera image size {self.height}x{self.width}: need >= 1")

    @classmethod
    def from_fov(cls, cam_to_world: np.ndarray, height: int, width: int,
                 fov_x_deg: float | None = None, fov_y: float | None = None) -> "Cameras":
        """Centred pinhole cameras (``pinhole``) at the poses ``cam_to_world`` (M, 4, 4)."""
        K = pinhole(height, width, fov_x_deg, fov_y)
        c2w = np.asarray(cam_to_world, dtype=np.float64)
        return cls(np.broadcast_to(K, (len(c2w), 3, 3)).copy(), c2w, height, width)

    def __len__(self) -> int:
        return self.K.shape[0]

    def __getitem__(self, index) -> "Cameras":
        """The cameras ``index`` (an int keeps a batch of one) picks."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Cameras(self.K[index], self.cam_to_world[index], self.height, self.width)

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def resized(self, height: int, width: int) -> "Cameras":
        """The same cameras with their images resized to ``height`` x ``width``
        (``resize_intrinsics``)."""
        if (height, width) == self.size:
            return self
        return Cameras(intrinsics_for_size(self.K, self.size, (height, width)),
                       self.cam_to_world, height, width)

    def padded(self, height: int, width: int) -> "Cameras":
        """The same cameras with their images padded (or cropped) at the right and bottom to
        ``height`` x ``width``: intrinsics unchanged."""
        return Cameras(self.K, self.cam_to_world, height, width)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype = torch.float32) -> "Cameras":
        """Torch cameras of ``dtype`` on ``device``."""
        return Cameras(torch.as_tensor(self.K, dtype=dtype, device=device),
                       torch.as_tensor(self.cam_to_world, dtype=dtype, device=device),
                       self.height, self.width)

    def numpy(self) -> "Cameras":
        """Numpy cameras (float64)."""
        if not torch.is_tensor(self.K):
            return self
        return Cameras(self.K.detach().cpu().double().numpy(),
                       self.cam_to_world.detach().cpu().double().numpy(), self.height, self.width)

    def detach(self) -> "Cameras":
        """Torch cameras without a gradient to their poses."""
        return Cameras(self.K, self.cam_to_world.detach(), self.height, self.width)

    def with_poses(self, cam_to_world) -> "Cameras":
        """The same intrinsics and size at other poses (M, 4, 4)."""
        return Cameras(self.K, cam_to_world, self.height, self.width)

    def project(self, points, min_depth: float = 0.0):
        """Pixel coordinates (..., 2) and depth (...) of world points (``project_points``): one
        camera sees points of any shape (..., 3); M cameras see (M, ..., 3), or the same (N, 3)
        each."""
        if len(self) == 1:
            return project_points(points, self.K[0], self.cam_to_world[0], min_depth)
        return project_points(points[None] if points.ndim == 2 else points, self.K,
                              self.cam_to_world, min_depth)

    def rays(self) -> torch.Tensor:
        """(M, H, W, 3) world direction of the ray through each pixel centre, of unit depth
        along the optical axis (torch): a pixel at depth d lies at the centre + d * ray."""
        return torch.einsum("bij,bhwj->bhwi", self.cam_to_world[:, :3, :3],
                            camera_rays(self.K, self.height, self.width))

    def directions(self) -> torch.Tensor:
        """(M, H, W, 3) unit world direction of the ray through each pixel centre (torch)."""
        d = self.rays()
        return d / d.norm(dim=-1, keepdim=True)

    def depth_ranges(self, points, percentiles: tuple[float, float] = (0.5, 99.5),
                     margin: tuple[float, float] = (0.9, 1.1), min_points: int = 1) -> np.ndarray:
        """(M, 2) near and far depth of the ``points`` inside each camera's image
        (``depth_ranges``)."""
        cams = self.numpy()
        return depth_ranges(points, cams.K, cams.cam_to_world, self.size, percentiles, margin,
                            min_points)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Camera-to-world (4, 4) of a camera at ``eye`` looking at ``target``, image up along ``up``."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    norm = np.linalg.norm(x)
    if norm < 1e-9:
        raise ValueError("viewing direction is parallel to the up vector")
    x /= norm
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def focal_from_fov(extent: float, fov: float) -> float:
    """Focal length in pixels of a field of view ``fov`` (radians) spanning ``extent`` pixels."""
    return 0.5 * extent / float(np.tan(0.5 * fov))


def pinhole(height: int, width: int, fov_x_deg: float | None = None,
            fov_y: float | None = None) -> np.ndarray:
    """Intrinsics of a centred pinhole camera (square pixels) with horizontal field of view
    ``fov_x_deg`` (degrees) or vertical ``fov_y`` (radians, as a browser's camera has it)."""
    if (fov_x_deg is None) == (fov_y is None):
        raise ValueError("give one of fov_x_deg and fov_y")
    f = focal_from_fov(width, np.radians(fov_x_deg)) if fov_y is None else \
        focal_from_fov(height, fov_y)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])


def pixel_rays(K: np.ndarray, c2w: np.ndarray, height: int, width: int,
               offsets: list[tuple[float, float]]) -> np.ndarray:
    """World rays (S, H, W, 6) = origin, direction (unit depth), through pixel centres shifted by
    ``offsets`` (a shift of the pixel is the opposite shift of the principal point)."""
    shifted = np.repeat(np.asarray(K, dtype=np.float64)[None], len(offsets), 0)
    shifted[:, :2, 2] -= np.asarray(offsets, dtype=np.float64)
    c2w = np.repeat(np.asarray(c2w, dtype=np.float64)[None], len(offsets), 0)
    d = Cameras(shifted, c2w, height, width).to(dtype=torch.float64).rays().numpy()
    o = np.broadcast_to(c2w[:, None, None, :3, 3], d.shape)
    return np.concatenate([o, d], axis=-1).astype(np.float32)


def rotation_log(R: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of a rotation matrix (angle in radians, up to pi)."""
    cos = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-9:
        return np.zeros(3)
    if np.pi - angle < 1e-6:  # near a half turn: the axis from R + I's largest column
        M = (R + np.eye(3)) / 2
        axis = M[:, np.argmax(np.diag(M))]
        return angle * axis / np.linalg.norm(axis)
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    return angle * w / (2 * np.sin(angle))


def rotation_exp(w):
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3) (Rodrigues; smooth at 0, so
    that pose refinement differentiates through it); numpy in, numpy (float64) out."""
    if not torch.is_tensor(w):
        return rotation_exp(torch.as_tensor(np.asarray(w, dtype=np.float64))).numpy()
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = theta2.clamp_min(1e-12).sqrt()
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    zero = torch.zeros_like(w[..., 0])
    Kx = torch.stack([torch.stack([zero, -w[..., 2], w[..., 1]], -1),
                      torch.stack([w[..., 2], zero, -w[..., 0]], -1),
                      torch.stack([-w[..., 1], w[..., 0], zero], -1)], -2)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand(Kx.shape)
    return eye + a * Kx + b * (Kx @ Kx)


def depth_ranges(points, K, cam_to_world, size: tuple[int, int] | None = None,
                 percentiles: tuple[float, float] = (0.5, 99.5),
                 margin: tuple[float, float] = (0.9, 1.1), min_points: int = 1) -> np.ndarray:
    """(M, 2) near and far depth of each of M cameras (``K`` (M, 3, 3), ``cam_to_world``
    (M, 4, 4)) from the ``points`` (N, 3) in front of it, or with ``size`` (height, width) inside
    its image: the ``percentiles`` of their depths times ``margin``; NaN where fewer than
    ``min_points`` are."""
    points = np.asarray(points)
    out = np.full((len(cam_to_world), 2), np.nan)
    for i, c2w in enumerate(np.asarray(cam_to_world, dtype=np.float64)):
        z = (points - c2w[:3, 3]) @ c2w[:3, 2]  # depth along the optical axis
        keep = z > 0
        if size is not None:
            uv, _ = project_points(points, np.asarray(K[i], dtype=np.float64), c2w, min_depth=1e-9)
            keep &= (uv[:, 0] >= 0) & (uv[:, 0] <= size[1] - 1) & (uv[:, 1] >= 0) & \
                (uv[:, 1] <= size[0] - 1)
        if int(keep.sum()) >= max(min_points, 1):
            lo, hi = np.percentile(z[keep], percentiles)
            out[i] = (margin[0] * lo, margin[1] * hi)
    return out


def interpolate_pose(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Camera-to-world (4, 4) a fraction ``t`` of the way from ``a`` to ``b``: rotation along the
    shortest arc (slerp), centre on the straight line."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = a[:3, :3] @ rotation_exp(t * rotation_log(a[:3, :3].T @ b[:3, :3]))
    out[:3, 3] = (1 - t) * a[:3, 3] + t * b[:3, 3]
    return out


def resize_intrinsics(K, sx: float, sy: float | None = None):
    """Intrinsics (..., 3, 3), numpy or torch, of the same cameras with images resized by ``sx``
    horizontally and ``sy`` (default ``sx``) vertically, pixel centres staying at integers
    (x' = sx * (x + 0.5) - 0.5)."""
    sy = sx if sy is None else sy
    # K' = S K with S = [[sx, 0, (sx - 1) / 2], [0, sy, (sy - 1) / 2], [0, 0, 1]], written row by
    # row with Python numbers: a matrix product would run in float16 under autocast, and factors
    # made into CUDA tensors would each wait for the GPU (a copy from the host)
    last = K[..., 2:3, :]
    rows = [sx * K[..., 0:1, :] + (0.5 * sx - 0.5) * last,
            sy * K[..., 1:2, :] + (0.5 * sy - 0.5) * last, last]
    return torch.cat(rows, -2) if torch.is_tensor(K) else np.concatenate(rows, -2)


def intrinsics_for_size(K, src_hw: tuple[int, int], dst_hw: tuple[int, int]):
    """Intrinsics (..., 3, 3) of images resized from ``src_hw`` to ``dst_hw`` (height, width)."""
    return resize_intrinsics(K, dst_hw[1] / src_hw[1], dst_hw[0] / src_hw[0])


def camera_rays(K: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W, 3) camera-frame direction (z = 1) through each pixel centre of cameras K
    (B, 3, 3), skew included."""
    ys = torch.arange(height, device=K.device, dtype=K.dtype)[None, :, None]
    xs = torch.arange(width, device=K.device, dtype=K.dtype)[None, None, :]
    y = ((ys - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]).expand(-1, height, width)
    x = (xs - K[:, 0, 2, None, None] - K[:, 0, 1, None, None] * y) / K[:, 0, 0, None, None]
    return torch.stack([x, y, torch.ones_like(x)], -1)


def _per_point(m, ndim: int):
    """Camera matrices (*batch, r, c) reshaped to broadcast over points (*batch, *more, 3) of
    ``ndim`` dimensions."""
    batch = tuple(m.shape[:-2])
    return m.reshape(*batch, *([1] * (ndim - 1 - len(batch))), *m.shape[-2:])


def points_to_camera(points, cam_to_world):
    """Camera coordinates ``R^T (X - t)`` (*batch, *more, 3) of world points (*batch, *more, 3)
    in cameras (*batch, 4, 4) (or (4, 4) for all points)."""
    if cam_to_world.ndim == 2:  # one camera: a plain product (the common, fast case)
        return (points - cam_to_world[:3, 3]) @ cam_to_world[:3, :3]
    c2w = _per_point(cam_to_world, points.ndim)
    return ((points - c2w[..., :3, 3])[..., None, :] @ c2w[..., :3, :3])[..., 0, :]


def points_to_world(points, cam_to_world):
    """World coordinates ``R X + t`` of camera-frame points, shaped as in ``points_to_camera``."""
    if cam_to_world.ndim == 2:
        return points @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
    c2w = _per_point(cam_to_world, points.ndim)
    return (c2w[..., :3, :3] @ points[..., :, None])[..., 0] + c2w[..., :3, 3]


def project_points(points, K, cam_to_world, min_depth: float = 0.0):
    """Pixel coordinates (*batch, *more, 2) as (column, row) and depth (*batch, *more) of world
    points (*batch, *more, 3) in pinhole cameras ``K`` (*batch, 3, 3), ``cam_to_world``
    (*batch, 4, 4): ``u = (K00 x + K01 y) / z + K02``, ``v = K11 y / z + K12`` (the projector's
    contract). ``min_depth`` > 0 divides by at least that depth (points behind the camera stay
    finite); the depth returned is the true one."""
    cam = points_to_camera(points, cam_to_world)
    Kp = _per_point(K, points.ndim)
    z = cam[..., 2]
    zd = z.clip(min_depth, None) if min_depth > 0 else z
    u = (Kp[..., 0, 0] * cam[..., 0] + Kp[..., 0, 1] * cam[..., 1]) / zd + Kp[..., 0, 2]
    v = Kp[..., 1, 1] * cam[..., 1] / zd + Kp[..., 1, 2]
    stack = torch.stack if torch.is_tensor(points) else np.stack
    return stack([u, v], -1), z
