"""Procedural demo scene: a textured ball covered in thin curled strands (a fur ball).

Ground-truth RGB and alpha are ray traced with open3d's ``RaycastingScene`` (2x2 samples a pixel, so
sub-pixel strands give fractional alpha); the point cloud is sampled from the same mesh with open3d.
Everything is deterministic for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from ..geometry import look_at, pinhole, pixel_rays

SUBPIXEL_OFFSETS = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]
LIGHT_DIR = np.array([0.4, -0.3, 0.87]) / np.linalg.norm([0.4, -0.3, 0.87])


@dataclass
class DemoScene:
    cam_to_world: np.ndarray  # (M, 4, 4)
    K: np.ndarray  # (M, 3, 3)
    images: list  # (H, W, 3) uint8 RGB, premultiplied on black
    alphas: list  # (H, W) uint8
    points: np.ndarray  # (N, 3) float32
    colors: np.ndarray  # (N, 3) float32 in [0, 1]


def _core(radius: float) -> o3d.geometry.TriangleMesh:
    mesh = o3d.geometry.TriangleMesh.create_sphere(radius, resolution=40)
    v = np.asarray(mesh.vertices) / radius
    theta, phi = np.arccos(np.clip(v[:, 2], -1, 1)), np.arctan2(v[:, 1], v[:, 0])
    t = 0.5 + 0.5 * np.sin(6 * phi) * np.sin(4 * theta)
    colors = (1 - t)[:, None] * [0.55, 0.25, 0.10] + t[:, None] * [0.95, 0.80, 0.45]
    mesh.vertex_colors = o3d.utility.Vector3dVector(colors)
    return mesh


def _strands(rng: np.random.Generator, count: int, radius: float, segments: int = 8,
             sides: int = 4, width: float = 0.01) -> o3d.geometry.TriangleMesh:
    """Tapered tubes growing from the core's surface, curling and drooping towards -z."""
    roots = rng.normal(size=(count, 3))
    roots /= np.linalg.norm(roots, axis=1, keepdims=True)
    length = rng.uniform(0.35, 0.55, size=(count, 1))
    curl = rng.normal(size=(count, 3)) * 0.6
    t = np.linspace(0, 1, segments + 1)[None, :, None]  # (1, G+1, 1)
    direction = roots[:, None] + curl[:, None] * t ** 2 + np.array([0, 0, -0.5]) * t ** 2
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    step = length[:, None] / segments
    centre = radius * 0.98 * roots[:, None] + np.cumsum(direction * step, axis=1) - direction * step
    # A frame around each strand point for the tube's ring of vertices.
    side = np.cross(direction, rng.normal(size=(count, 1, 3)))
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    other = np.cross(direction, side)
    angle = 2 * np.pi * np.arange(sides) / sides
    ring = np.cos(angle)[None, None, :, None] * side[:, :, None] \
        + np.sin(angle)[None, None, :, None] * other[:, :, None]
    rad = width * (1.0 - 0.7 * t)[..., None]  # taper to the tip
    verts = centre[:, :, None] + rad * ring  # (S, G+1, sides, 3)

    s, g, k = np.meshgrid(np.arange(count), np.arange(segments), np.arange(sides), indexing="ij")
    base = (s * (segments + 1) + g) * sides
    a, b = base + k, base + (k + 1) % sides
    c, d = a + sides, b + sides
    tris = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                           np.stack([a, d, c], -1).reshape(-1, 3)])
    hue = rng.uniform(0, 1, size=(count, 1, 1))
    root_col = np.array([0.15, 0.08, 0.05]) * (1 - hue) + np.array([0.35, 0.15, 0.45]) * hue
    tip_col = np.array([0.95, 0.75, 0.35]) * (1 - hue) + np.array([0.55, 0.85, 0.95]) * hue
    col = root_col + (tip_col - root_col) * t  # (S, G+1, 3)
    colors = np.broadcast_to(col[:, :, None], verts.shape)

    mesh = o3d.geometry.TriangleMesh()
    mesh.vertices = o3d.utility.Vector3dVector(verts.reshape(-1, 3))
    mesh.triangles = o3d.utility.Vector3iVector(tris.astype(np.int32))
    mesh.vertex_colors = o3d.utility.Vector3dVector(colors.reshape(-1, 3))
    return mesh


def camera_ring(num_cameras: int, distance: float) -> np.ndarray:
    """Cameras on a Fibonacci sphere (elevation -30..70 degrees) looking at the origin, z up."""
    i = np.arange(num_cameras) + 0.5
    z = np.sin(np.radians(-30)) + (np.sin(np.radians(70)) - np.sin(np.radians(-30))) * i / num_cameras
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z ** 2)
    eyes = distance * np.stack([r * np.cos(azimuth), r * np.sin(azimuth), z], axis=1)
    return np.stack([look_at(e, np.zeros(3), np.array([0, 0, 1.0])) for e in eyes])


def _shade(mesh: o3d.geometry.TriangleMesh, hits: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-ray premultiplied colour (..., 3) and coverage (...) from a cast_rays result."""
    hit = np.isfinite(hits["t_hit"].numpy())
    prim = np.where(hit, hits["primitive_ids"].numpy().astype(np.int64), 0)
    uv = hits["primitive_uvs"].numpy()
    tri = np.asarray(mesh.triangles)[prim]
    vcol = np.asarray(mesh.vertex_colors)
    w = np.stack([1 - uv[..., 0] - uv[..., 1], uv[..., 0], uv[..., 1]], axis=-1)
    albedo = (vcol[tri] * w[..., None]).sum(-2)
    normal = hits["primitive_normals"].numpy()
    light = 0.35 + 0.65 * np.abs(normal @ LIGHT_DIR)
    return albedo * light[..., None] * hit[..., None], hit.astype(np.float64)


def render_mesh(mesh: o3d.geometry.TriangleMesh, poses: np.ndarray, K: np.ndarray,
                size: int) -> tuple[list, list]:
    """Ray-traced premultiplied RGB and alpha (uint8) of ``mesh`` from each camera (``size``²,
    one K for all): the ground truth of any camera path around a demo scene (``demo_mesh``)."""
    scene = _ray_caster(mesh)
    images, alphas = [], []
    for c2w in poses:
        rays = pixel_rays(K, c2w, size, size, SUBPIXEL_OFFSETS)
        rgb, cover = _shade(mesh, scene.cast_rays(o3d.core.Tensor(rays)))
        images.append(np.round(rgb.mean(0) * 255).clip(0, 255).astype(np.uint8))
        alphas.append(np.round(cover.mean(0) * 255).astype(np.uint8))
    return images, alphas


def mesh_depth(mesh: o3d.geometry.TriangleMesh, poses: np.ndarray, K: np.ndarray,
               size: int) -> np.ndarray:
    """Depth (T, ``size``, ``size``) of ``mesh`` at each camera's pixel centres (0 where no
    surface): the truth's geometry along a camera path, for warping its frames."""
    scene = _ray_caster(mesh)
    depth = [scene.cast_rays(o3d.core.Tensor(pixel_rays(K, c2w, size, size, [(0.0, 0.0)])))
             ["t_hit"].numpy()[0] for c2w in poses]  # unit-depth rays: the hit distance is depth
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def _ray_caster(mesh: o3d.geometry.TriangleMesh) -> o3d.t.geometry.RaycastingScene:
    mesh.compute_triangle_normals()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    return scene


def _fur_ball(rng: np.random.Generator, strands: int) -> o3d.geometry.TriangleMesh:
    return _core(0.45) + _strands(rng, strands, 0.45)


def _props(rng: np.random.Generator, count: int) -> o3d.geometry.TriangleMesh:
    """``count`` checkered balls (radius 0.15..0.3) scattered 1.3..1.9 from the origin: depth
    around the fur ball, as a real capture's surroundings give (they pin camera poses down)."""
    mesh = o3d.geometry.TriangleMesh()
    for _ in range(count):
        radius = rng.uniform(0.15, 0.3)
        ball = o3d.geometry.TriangleMesh.create_sphere(radius, resolution=40)
        v = np.asarray(ball.vertices) / radius
        checker = (np.floor(4 * v).sum(1) % 2)[:, None]
        base, other = rng.uniform(0.1, 0.9, size=(2, 3))
        ball.vertex_colors = o3d.utility.Vector3dVector(checker * base + (1 - checker) * other)
        where = rng.normal(size=3)
        mesh += ball.translate(rng.uniform(1.3, 1.9) * where / np.linalg.norm(where))
    return mesh


def _sample(mesh: o3d.geometry.TriangleMesh, seed: int, num_points: int):
    o3d.utility.random.seed(seed)
    pcd = mesh.sample_points_uniformly(number_of_points=num_points)
    return np.asarray(pcd.points, dtype=np.float32), np.asarray(pcd.colors, dtype=np.float32)


def demo_mesh(seed: int = 0, strands: int = 600, props: int = 0) -> o3d.geometry.TriangleMesh:
    """The mesh ``make_demo_scene`` renders and samples for these arguments."""
    rng = np.random.default_rng(seed)
    mesh = _fur_ball(rng, strands)
    if props:
        mesh += _props(rng, props)
    return mesh


def make_demo_scene(seed: int = 0, size: int = 128, num_cameras: int = 48, strands: int = 600,
                    num_points: int = 60000, fov_deg: float = 45.0,
                    distance: float = 3.0, props: int = 0) -> DemoScene:
    """Build the fur-ball scene: ``num_cameras`` views of ``size``² pixels and a sampled point
    cloud; ``props`` adds that many checkered balls around it (``_props``)."""
    mesh = demo_mesh(seed, strands, props)
    poses = camera_ring(num_cameras, distance)
    K = pinhole(size, size, fov_deg)
    images, alphas = render_mesh(mesh, poses, K, size)
    points, colors = _sample(mesh, seed, num_points)
    return DemoScene(poses, np.repeat(K[None], num_cameras, axis=0), images, alphas, points, colors)


def moving_pose(frame: int) -> np.ndarray:
    """(4, 4) rigid motion of the moving scene at ``frame``: 9 degrees a frame about z and a
    swing of 0.25 along x."""
    a = np.radians(9.0 * frame)
    motion = np.eye(4)
    motion[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    motion[0, 3] = 0.25 * np.sin(2 * np.pi * frame / 10)
    return motion


def make_moving_scene(num_frames: int = 10, seed: int = 0, size: int = 64, num_cameras: int = 12,
                      strands: int = 300, num_points: int = 20000, fov_deg: float = 45.0,
                      distance: float = 3.0) -> list[DemoScene]:
    """The fur ball moving rigidly (``moving_pose``) over ``num_frames`` frames seen by fixed
    cameras: one DemoScene per frame. Point i is the same surface point in every frame (the
    cloud is sampled once and moved), so frames can share point features by index."""
    mesh = _fur_ball(np.random.default_rng(seed), strands)
    points, colors = _sample(mesh, seed, num_points)
    poses = camera_ring(num_cameras, distance)
    K = pinhole(size, size, fov_deg)
    frames = []
    for f in range(num_frames):
        motion = moving_pose(f)
        moved = o3d.geometry.TriangleMesh(mesh).transform(motion)
        images, alphas = render_mesh(moved, poses, K, size)
        xyz = (points @ motion[:3, :3].T + motion[:3, 3]).astype(np.float32)
        frames.append(DemoScene(poses, np.repeat(K[None], num_cameras, axis=0), images, alphas,
                                xyz, colors))
    return frames
