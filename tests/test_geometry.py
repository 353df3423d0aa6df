"""Camera maths in npcr.geometry."""
import numpy as np
import torch

from npcr.geometry import resize_intrinsics


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
