"""Camera paths around an object: orbits by azimuth/elevation/radius, spirals, the surround circle
through a start camera, and interpolation between given cameras. Every path is (frames, 4, 4) camera-to-world in the projection contract's
OpenCV axes; orbit and spiral cameras look at ``centre`` with the image up along ``up``."""
from __future__ import annotations

import numpy as np

from npcr.geometry import interpolate_pose, look_at

MAX_ELEVATION_DEG = 89.0


def orbit_basis(up: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit ``up`` and two unit vectors spanning the plane normal to it; azimuth 0 lies along
    ``reference`` projected onto that plane."""
    up = np.asarray(up, dtype=np.float64)
    if np.linalg.norm(up) == 0:
        raise ValueError("the up vector must be non-zero")
    up = up / np.linalg.norm(up)
    reference = np.asarray(reference, dtype=np.float64)
    radial = reference - (reference @ up) * up
    if np.linalg.norm(radial) < 1e-9 * max(np.linalg.norm(reference), 1.0):
        raise ValueError("the azimuth reference lies along the up axis")
    e1 = radial / np.linalg.norm(radial)
    return up, e1, np.cross(up, e1)


def orbit_path(centre: np.ndarray, up: np.ndarray, reference: np.ndarray, radius: float,
               azimuth_deg: tuple[float, float], elevation_deg: tuple[float, float],
               frames: int, closed: bool | None = None) -> np.ndarray:
    """Cameras at ``radius`` from ``centre``, azimuth running from ``azimuth_deg[0]`` to
    ``[1]`` (0 along ``reference``, counter-clockwise about ``up``) and elevation above the plane
    normal to ``up`` from ``elevation_deg[0]`` to ``[1]``, both linearly. A full turn (``closed``,
    by default when the azimuths span 360 degrees) leaves out the end so the loop does not repeat
    a frame."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    a0, a1 = azimuth_deg
    closed = abs(abs(a1 - a0) - 360.0) < 1e-9 if closed is None else closed
    s = np.arange(frames) / (frames if closed or frames == 1 else frames - 1)
    az = np.radians(a0 + (a1 - a0) * s)
    el = np.radians(elevation_deg[0] + (elevation_deg[1] - elevation_deg[0]) * s)
    return _orbit_cameras(centre, orbit_basis(up, reference), radius, az, el)


def _orbit_cameras(centre: np.ndarray, basis: tuple[np.ndarray, np.ndarray, np.ndarray],
                   radius: float, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Cameras at ``radius`` from ``centre`` looking at it, at each azimuth and elevation
    (radians; elevation clipped to +-MAX_ELEVATION_DEG) in the ``orbit_basis`` (up, e1, e2)."""
    up, e1, e2 = basis
    centre = np.asarray(centre, dtype=np.float64)
    limit = np.radians(MAX_ELEVATION_DEG)
    poses = []
    for a, e in zip(azimuth, np.clip(elevation, -limit, limit)):
        direction = np.cos(a) * e1 + np.sin(a) * e2
        eye = centre + radius * (np.cos(e) * direction + np.sin(e) * up)
        poses.append(look_at(eye, centre, up))
    return np.stack(poses)


def surround_path(start_cam_to_world: np.ndarray, centre: np.ndarray, up: np.ndarray, frames: int,
                  elevation_deg: float = 0.0) -> np.ndarray:
    """``frames`` camera-to-world matrices (frames, 4, 4) circling ``centre`` about axis ``up``.

    Frame 0 sits at the start camera's centre; frame k is turned by 360 k / frames degrees. With
    ``elevation_deg`` the elevation above the start one swings by +-elevation_deg (one sine
    period). Every camera looks at ``centre`` with its image up along ``up``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    centre = np.asarray(centre, dtype=np.float64)
    offset = np.asarray(start_cam_to_world, dtype=np.float64)[:3, 3] - centre
    try:
        basis = orbit_basis(up, offset)
    except ValueError:
        raise ValueError("the start camera lies on the up axis through the centre; no circle "
                         "exists") from None
    distance = np.linalg.norm(offset)
    start_elevation = np.arcsin(np.clip(offset @ basis[0] / distance, -1, 1))
    phase = 2 * np.pi * np.arange(frames) / frames
    return _orbit_cameras(centre, basis, distance, phase,
                          start_elevation + np.radians(elevation_deg) * np.sin(phase))


def spiral_path(centre: np.ndarray, up: np.ndarray, reference: np.ndarray, radius: float,
                turns: float, elevation_deg: tuple[float, float], frames: int) -> np.ndarray:
    """``turns`` full turns about ``up`` while the elevation climbs from ``elevation_deg[0]`` to
    ``[1]``: an orbit whose azimuth spans ``360 * turns`` degrees, first and last frame included."""
    return orbit_path(centre, up, reference, radius, (0.0, 360.0 * turns), elevation_deg, frames,
                      closed=False)


def keyframe_path(keyframes: np.ndarray, frames: int) -> np.ndarray:
    """``frames`` cameras through the given camera-to-world ``keyframes`` (K, 4, 4) in order,
    spaced evenly in path parameter: rotation by slerp, centre linearly, between each pair."""
    keyframes = np.asarray(keyframes, dtype=np.float64)
    if len(keyframes) < 2:
        raise ValueError("interpolation needs at least 2 keyframes")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    s = np.linspace(0, len(keyframes) - 1, frames)
    seg = np.minimum(s.astype(int), len(keyframes) - 2)
    return np.stack([interpolate_pose(keyframes[i], keyframes[i + 1], t - i)
                     for i, t in zip(seg, s)])


def focus_point(cam_to_world: np.ndarray) -> np.ndarray | None:
    """The point nearest to all the cameras' optical axes (least squares), where an object-centred
    capture puts its object; None when the axes are near parallel or it lies behind most cameras."""
    A, b = np.zeros((3, 3)), np.zeros(3)
    for c2w in cam_to_world:
        d = c2w[:3, 2] / np.linalg.norm(c2w[:3, 2])
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c2w[:3, 3]
    eig = np.linalg.eigvalsh(A)
    if eig[0] < 1e-2 * eig[-1]:
        return None
    point = np.linalg.solve(A, b)
    ahead = ((point - cam_to_world[:, :3, 3]) * cam_to_world[:, :3, 2]).sum(1) > 0
    return point if ahead.mean() > 0.5 else None


def scene_orbit(cam_to_world: np.ndarray, points: np.ndarray, azimuth_deg: tuple[float, float],
                elevation_deg: float, frames: int, radius: float | None = None,
                up: np.ndarray | None = None) -> np.ndarray:
    """An orbit around a captured object: about the point the cameras look at (``focus_point``;
    the bounding-box centre of ``points`` when they do not converge), ``up`` by default the
    cameras' image up (-y; the per-axis median, so a few photos taken sideways do not tilt it),
    azimuth 0 towards the first camera, ``radius`` by default the cameras' mean distance to the
    centre."""
    centre = focus_point(cam_to_world)
    if centre is None:
        centre = (points.min(0) + points.max(0)) / 2.0
    if up is None:
        up = -np.median(cam_to_world[:, :3, 1], axis=0)
    if radius is None:
        radius = float(np.linalg.norm(cam_to_world[:, :3, 3] - centre, axis=1).mean())
    return orbit_path(centre, up, cam_to_world[0, :3, 3] - centre, radius, azimuth_deg,
                      (elevation_deg, elevation_deg), frames)
