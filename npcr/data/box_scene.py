"""A small textured scene for testing capture processing: a box on a floor before a back wall,
every face covered in a random multi-scale texture (what feature matching and stereo need), ray
cast exactly through pinhole or distorted lenses. Deterministic for a seed."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import look_at
from .distortion import Distortion


@dataclass
class Rect:
    """A textured rectangle: points origin + s * a + t * b for s, t in [0, 1]."""

    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray
    texture: np.ndarray  # (T, T, 3) uint8 RGB

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.a, self.b)
        return n / np.linalg.norm(n)


def _texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    out = np.zeros((size, size, 3))
    for sigma, weight in ((1.0, 0.5), (3.0, 1.0), (8.0, 1.5)):
        noise = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), sigma)
        out += weight * (noise - noise.mean()) / (noise.std() + 1e-9)
    out = (out - out.min()) / (out.max() - out.min())
    return (out * 255).astype(np.uint8)


def box_rects(seed: int = 0) -> list[Rect]:
    """Floor (y = 1, y down), back wall (z = 2) and a unit box standing on the floor at the
    origin (its four sides and top that cameras in front can see)."""
    rng = np.random.default_rng(seed)
    v = np.array
    faces = [(v([-5.0, 1.0, -3.0]), v([10.0, 0, 0]), v([0, 0, 5.0])),  # floor
             (v([-5.0, -3.0, 2.0]), v([10.0, 0, 0]), v([0, 4.0, 0])),  # back wall
             (v([-0.5, 0.0, -0.5]), v([1.0, 0, 0]), v([0, 1.0, 0])),  # box front (z = -0.5)
             (v([-0.5, 0.0, -0.5]), v([0, 0, 1.0]), v([0, 1.0, 0])),  # left
             (v([0.5, 0.0, -0.5]), v([0, 0, 1.0]), v([0, 1.0, 0])),  # right
             (v([-0.5, 0.0, -0.5]), v([1.0, 0, 0]), v([0, 0, 1.0]))]  # top (y = 0)
    return [Rect(o, a, b, _texture(rng)) for o, a, b in faces]


def ray_directions(K: np.ndarray, height: int, width: int, dist: Distortion | None,
                   offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(H, W, 3) camera-frame ray of each pixel centre (plus ``offset``) through a lens with
    ``dist`` (None: pinhole)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    pix = np.stack([cols + offset[0], rows + offset[1]], -1).reshape(-1, 1, 2)
    if dist is None or dist.is_zero:
        x = (pix[:, 0, 0] - K[0, 2]) / K[0, 0]
        y = (pix[:, 0, 1] - K[1, 2]) / K[1, 1]
    else:
        D = np.asarray(dist.coeffs, dtype=np.float64)
        und = cv2.fisheye.undistortPoints(pix, K, D) if dist.fisheye else \
            cv2.undistortPoints(pix, K, D)
        x, y = und[:, 0, 0], und[:, 0, 1]
    return np.stack([x, y, np.ones_like(x)], -1).reshape(height, width, 3)


def render_rects(rects: list[Rect], K: np.ndarray, cam_to_world: np.ndarray, height: int,
                 width: int, dist: Distortion | None = None, samples: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 RGB photo of ``rects`` (nearest surface wins; grey where none), with
    ``samples`` x ``samples`` rays a pixel."""
    steps = (np.arange(samples) + 0.5) / samples - 0.5
    acc = np.zeros((height, width, 3))
    for du in steps:
        for dv in steps:
            d = ray_directions(K, height, width, dist, (du, dv)) @ cam_to_world[:3, :3].T
            c = cam_to_world[:3, 3]
            best = np.full((height, width), np.inf)
            colour = np.full((height, width, 3), 128.0)
            for r in rects:
                with np.errstate(divide="ignore", invalid="ignore"):  # rays along the plane
                    t = ((r.origin - c) @ r.normal) / (d @ r.normal)
                    p = c + t[..., None] * d - r.origin
                    s = p @ r.a / (r.a @ r.a)
                    q = p @ r.b / (r.b @ r.b)
                hit = (t > 1e-6) & (t < best) & (s >= 0) & (s <= 1) & (q >= 0) & (q <= 1)
                size = r.texture.shape[0] - 1
                # only hits are kept; far-off coordinates of misses would make OpenCV's reflected
                # border walk for seconds, so they are clipped first
                mx, my = (np.clip(np.nan_to_num(v * size), -1, size + 1).astype(np.float32)
                          for v in (s, q))
                sample = cv2.remap(r.texture, mx, my, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
                best = np.where(hit, t, best)
                colour = np.where(hit[..., None], sample, colour)
            acc += colour
    return np.clip(np.round(acc / samples ** 2), 0, 255).astype(np.uint8)


def surface_distance(rects: list[Rect], points: np.ndarray) -> np.ndarray:
    """(N,) distance of each point to the nearest rectangle."""
    best = np.full(len(points), np.inf)
    for r in rects:
        p = points - r.origin
        s = np.clip(p @ r.a / (r.a @ r.a), 0, 1)
        q = np.clip(p @ r.b / (r.b @ r.b), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - s[:, None] * r.a - q[:, None] * r.b, axis=1))
    return best


def arc_cameras(count: int, radius: float = 4.0, spread_deg: float = 50.0,
                height: float = -1.0) -> np.ndarray:
    """(count, 4, 4) cameras on an arc in front of the box (z < 0), looking at it."""
    out = []
    for ang in np.radians(np.linspace(-spread_deg / 2, spread_deg / 2, count)):
        eye = np.array([radius * np.sin(ang), height, -radius * np.cos(ang)])
        out.append(look_at(eye, np.array([0.0, 0.3, 0.0]), np.array([0.0, -1.0, 0.0])))
    return np.stack(out)
