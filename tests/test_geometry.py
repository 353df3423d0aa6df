"""Camera maths in npcr.geometry."""
import numpy as np
import pytest
import torch

from npcr.geometry import Cameras, look_at, pinhole, resize_intrinsics


def test_resized_intrinsics_keep_pixel_centres():
    """x' = sx (x + 0.5) - 0.5 for any point, numpy and torch alike, float32 kept (also under
    autocast, where a matrix product would turn half)."""
    K = np.array([[100.0, 0.5, 31.5], [0.0, 90.0, 15.5], [0.0, 0.0, 1.0]])
    p = np.array([0.3, -0.2, 2.0])
    x, y, z = K @ p
    for sx, sy in ((2.0, 2.0), (0.5, 0.25), (0.37, 1.5)):
        xr, yr, zr = resize_intrinsics(K, sx, sy) @ p
        assert np.allclose([xr / zr, yr / zr], [sx * (x / z + 0.5) - 0.5, sy * (y / z + 0.5) - 0.5])
        Kt = torch.tensor(K, dtype=torch.float32)[None].repeat(2, 1, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            resized = resize_intrinsics(Kt, sx, sy)
        assert resized.dtype == torch.float32 and resized.shape == (2, 3, 3)
        assert np.allclose(resized[1].numpy(), resize_intrinsics(K, sx, sy), atol=1e-5)


def _cameras() -> Cameras:
    c2w = np.stack([look_at([0.0, 0.0, -4.0], [0, 0, 0], [0, -1, 0]),
                    look_at([3.0, 1.0, -2.0], [0, 0, 0], [0, -1, 0])])
    return Cameras.from_fov(c2w, 30, 40, fov_x_deg=60.0)


def test_cameras_from_a_field_of_view_index_and_resize():
    cams = _cameras()
    assert len(cams) == 2 and cams.size == (30, 40)
    assert np.allclose(cams.K[1], pinhole(30, 40, 60.0))
    one = cams[1]
    assert len(one) == 1 and np.array_equal(one.cam_to_world[0], cams.cam_to_world[1])
    assert cams.resized(30, 40) is cams
    half = cams.resized(15, 20)
    assert np.allclose(half.K, resize_intrinsics(cams.K, 0.5)) and half.size == (15, 20)
    with pytest.raises(ValueError, match="K \\(M, 3, 3\\) and cam_to_world \\(M, 4, 4\\)"):
        Cameras(cams.K, cams.cam_to_world[:1], 30, 40)


def test_cameras_project_what_their_rays_unproject():
    """A pixel's ray at depth d projects back to that pixel at depth d, numpy and torch alike,
    for one camera (any shape of points) and for several (a batch each)."""
    cams = _cameras()
    torch_cams = cams.to(dtype=torch.float64)
    rays = torch_cams.rays()  # (2, 30, 40, 3), unit depth
    assert rays.shape == (2, 30, 40, 3)
    points = torch_cams.cam_to_world[:, None, None, :3, 3] + 2.5 * rays
    uv, z = torch_cams.project(points)
    rows, cols = np.mgrid[0:30, 0:40]
    assert torch.allclose(z, torch.full_like(z, 2.5))
    assert np.allclose(uv[..., 0].numpy(), cols) and np.allclose(uv[..., 1].numpy(), rows)
    uv1, z1 = cams[1].project(points[1].numpy())  # one camera, numpy, (H, W, 3) points
    assert uv1.shape == (30, 40, 2) and np.allclose(uv1, uv[1].numpy())
    flat = points[0].reshape(-1, 3).numpy()
    uv2, _ = cams.project(flat)  # the same points seen by both cameras
    assert uv2.shape == (2, 1200, 2) and np.allclose(uv2[0], uv[0].reshape(-1, 2).numpy())
    d = torch_cams.directions()
    assert torch.allclose(d.norm(dim=-1), torch.ones(2, 30, 40, dtype=torch.float64))


def test_camera_depth_ranges_count_points_inside_the_image():
    cams = _cameras()[:1]
    inside = np.array([[0.0, 0.0, 0.0], [0.1, 0.1, 1.0]])  # depths 4 and 5
    outside = np.array([[40.0, 0.0, 0.0]])  # in front, far outside the image
    ranges = cams.depth_ranges(np.concatenate([inside, outside]), (0, 100), (1, 1))
    assert np.allclose(ranges, [[4.0, 5.0]])
