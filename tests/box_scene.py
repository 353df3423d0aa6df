"""Small textured scenes for testing capture processing, ray cast exactly through pinhole or
distorted lenses, deterministic for a seed: a box on a floor before a back wall, every face covered
in a random multi-scale texture (what feature matching and stereo need); and an outdoor yard, a
house front and a box on a lawn whose grain differs from photo to photo under a sky at infinity
(what fine-scale stereo misses)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from npcr.data.distortion import Distortion
from npcr.data.transforms import GL_TO_CV
from npcr.fileio import write_image, write_text
from npcr.geometry import look_at, pinhole


@dataclass
class Rect:
    """A textured rectangle: points origin + s * a + t * b for s, t in [0, 1]."""

    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray
    texture: np.ndarray  # (T, T, 3) uint8 RGB
    repeat: float = 1.0  # the texture tiles this many times along a and along b
    # a grain of one texel, different in every photo (``render_rects``' photo_seed), as grass
    # blades look different from each viewpoint: the texture x (1 + grain x white noise)
    grain: float = 0.0

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


def _ground_texture(rng: np.random.Generator, base: tuple[float, float, float], size: int = 2048
                    ) -> np.ndarray:
    """A tileable ground texture around an RGB ``base`` colour: patches of a lawn from a few
    centimetres to a metre across (with ``Rect.grain`` over it, what coarser stereo can match)."""
    freq = np.fft.fftfreq(size)
    radius2 = freq[:, None] ** 2 + freq[None] ** 2
    patches = np.zeros((size, size))
    for sigma, weight in ((8.0, 0.4), (30.0, 0.8), (120.0, 1.0)):
        # white noise blurred by a Gaussian, periodic (multiplied in the frequency domain)
        gain = np.exp(-2 * (np.pi * sigma) ** 2 * radius2)
        noise = np.fft.ifft2(np.fft.fft2(rng.random((size, size))) * gain).real
        patches += weight * (noise - noise.mean()) / (noise.std() + 1e-9)
    tint = 1 + 0.25 * (patches / patches.std())[..., None] * np.array([1.0, 0.85, 1.2])
    return np.clip(np.array(base) * tint, 0, 255).astype(np.uint8)


def yard_rects(seed: int = 0) -> list[Rect]:
    """An outdoor scene (y down, ground at y = 1): a house front 6 wide and 3 high at z = 4 and a
    unit box before it, both richly textured, on a lawn (patches under a grain that differs from
    photo to photo: fine-scale stereo cannot match it) that reaches 60 units ahead and to each
    side (the cameras of ``write_yard_capture`` see it up to near the horizon; the sky above is
    ``yard_sky``)."""
    rng = np.random.default_rng(seed)
    v = np.array
    ground = Rect(v([-60.0, 1.0, -20.0]), v([120.0, 0, 0]), v([0, 0, 80.0]),
                  _ground_texture(rng, (118, 128, 84)), repeat=12.0, grain=0.6)
    faces = [(v([-3.0, -2.0, 4.0]), v([6.0, 0, 0]), v([0, 3.0, 0])),  # house front (z = 4)
             (v([-0.5, 0.0, -0.5]), v([1.0, 0, 0]), v([0, 1.0, 0])),  # box front (z = -0.5)
             (v([-0.5, 0.0, -0.5]), v([0, 0, 1.0]), v([0, 1.0, 0])),  # left
             (v([0.5, 0.0, -0.5]), v([0, 0, 1.0]), v([0, 1.0, 0])),  # right
             (v([-0.5, 0.0, -0.5]), v([1.0, 0, 0]), v([0, 0, 1.0]))]  # top (y = 0)
    return [ground] + [Rect(o, a, b, _texture(rng)) for o, a, b in faces]


def yard_sky(directions: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0-255 of the sky at infinity along world ``directions`` (..., 3): pale at the
    horizon, blue overhead, with soft bands of cloud; haze below the horizon."""
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    up = np.clip(-d[..., 1], 0, 1)[..., None]  # y down: elevation's sine
    azimuth = np.arctan2(d[..., 0], d[..., 2])[..., None]
    cloud = 0.5 + 0.5 * np.sin(9 * azimuth + 14 * up) * np.sin(5 * azimuth - 3 * up + 1.0)
    base = (1 - up) * np.array([215.0, 222.0, 232.0]) + up * np.array([95.0, 145.0, 215.0])
    return base + 30 * cloud * (1 - up)


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
                 width: int, dist: Distortion | None = None, samples: int = 2,
                 sky: Callable[[np.ndarray], np.ndarray] | None = None,
                 photo_seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 RGB photo of ``rects`` (nearest surface wins; where none, ``sky`` of the
    ray's direction, or grey), with ``samples`` x ``samples`` rays a pixel; ``photo_seed`` draws
    the grain of the rectangles that have one."""
    grains = [np.random.default_rng([photo_seed, i]).standard_normal(r.texture.shape[:2])
              .astype(np.float32) if r.grain else None for i, r in enumerate(rects)]
    steps = (np.arange(samples) + 0.5) / samples - 0.5
    acc = np.zeros((height, width, 3))
    for du in steps:
        for dv in steps:
            d = ray_directions(K, height, width, dist, (du, dv)) @ cam_to_world[:3, :3].T
            c = cam_to_world[:3, 3]
            best = np.full((height, width), np.inf)
            colour = np.full((height, width, 3), 128.0) if sky is None else sky(d)
            for r, grain in zip(rects, grains):
                with np.errstate(divide="ignore", invalid="ignore"):  # rays along the plane
                    t = ((r.origin - c) @ r.normal) / (d @ r.normal)
                    p = c + t[..., None] * d - r.origin
                    s = p @ r.a / (r.a @ r.a)
                    q = p @ r.b / (r.b @ r.b)
                hit = (t > 1e-6) & (t < best) & (s >= 0) & (s <= 1) & (q >= 0) & (q <= 1)
                sample = _sample_texture(r, r.texture, s, q)
                if grain is not None:
                    sample = sample * (1 + r.grain * _sample_texture(r, grain, s, q))[..., None]
                best = np.where(hit, t, best)
                colour = np.where(hit[..., None], sample, colour)
            acc += colour
    return np.clip(np.round(acc / samples ** 2), 0, 255).astype(np.uint8)


def _sample_texture(r: Rect, texture: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``texture`` (``r``'s or its grain, bilinear) at rectangle coordinates ``s``, ``q`` in
    [0, 1] (tiled ``r.repeat`` times)."""
    size = texture.shape[0]
    if r.repeat == 1.0:
        # only hits are kept; far-off coordinates of misses would make OpenCV's reflected border
        # walk for seconds, so they are clipped first
        mx, my = (np.clip(np.nan_to_num(v * (size - 1)), -1, size).astype(np.float32)
                  for v in (s, q))
        return cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mx, my = (np.mod(np.nan_to_num(v * r.repeat * size), size).astype(np.float32) for v in (s, q))
    return cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


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


def write_yard_capture(root: Path, count: int = 24, size: tuple[int, int] = (480, 640),
                       seed: int = 0) -> tuple[list[Rect], np.ndarray, np.ndarray]:
    """``count`` photos (H, W = ``size``) of the yard on an arc around the box, 1.6 units above the
    ground, as a posed capture without points: ``root``/images/ and a transforms.json (pinhole, 60
    degrees across). Returns the rectangles, K (3, 3) and the cameras (count, 4, 4)."""
    h, w = size
    K = pinhole(h, w, 60.0)
    rects, cams = yard_rects(seed), arc_cameras(count, radius=5.0, spread_deg=70.0, height=-0.6)
    frames = []
    for i, c in enumerate(cams):
        write_image(root / "images" / f"yard_{i:02d}.png",
                    render_rects(rects, K, c, h, w, sky=yard_sky, photo_seed=i))
        frames.append({"file_path": f"images/yard_{i:02d}.png",
                       "transform_matrix": (c @ GL_TO_CV).tolist()})
    meta = {"camera_model": "PINHOLE", "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2] + 0.5,
            "cy": K[1, 2] + 0.5, "w": w, "h": h, "frames": frames}
    write_text(root / "transforms.json", json.dumps(meta, indent=1) + "\n")
    return rects, K, cams
