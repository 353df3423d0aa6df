"""Random zoom and crop move the camera with the image."""
import numpy as np
import pytest
import torch

from npcr.data import CameraImageDataset
from npcr.data.augment import zoom_and_crop
from npcr.data.npcr_layout import load_native_scene, write_native_scene


@pytest.mark.parametrize("zoom,crop", [((2.0, 2.0), (10, 12)), ((0.5, 0.5), (0, 0)),
                                       ((1.0, 1.0), (8, 8)), ((0.5, 0.5), (30, 30))])
def test_bright_pixel_stays_where_the_camera_sees_it(zoom, crop):
    img = np.zeros((20, 24, 3), np.uint8)
    alpha = np.zeros((20, 24), np.uint8)
    r, c = 9, 13
    img[r - 1:r + 1, c - 1:c + 1] = 255  # a 2x2 spot centred on (r - 0.5, c - 0.5)
    alpha[:] = 255
    K = np.array([[30.0, 0, 11.5], [0, 30.0, 9.5], [0, 0, 1]])
    ray = np.linalg.inv(K) @ np.array([c - 0.5, r - 0.5, 1.0])  # the world direction of the spot
    g = torch.Generator().manual_seed(3)
    out, out_alpha, K2 = zoom_and_crop(img, alpha, K, zoom, crop, g)
    if min(crop) > 0:
        assert out.shape[:2] == crop and out_alpha.shape == crop
    u, v, _ = K2 @ ray
    ys, xs = np.nonzero(out[..., 0] > 100)
    if len(xs):
        assert abs(xs.mean() - u) < 0.6 and abs(ys.mean() - v) < 0.6
    else:
        assert not (0 <= u < out.shape[1] and 0 <= v < out.shape[0])
    if crop == (30, 30):  # smaller than the crop: padded with empty background
        assert out_alpha[-1, -1] == 0 and out_alpha[0, 0] == 255


def test_crop_windows_vary_and_are_reproducible():
    img = np.arange(20 * 24 * 3, dtype=np.uint8).reshape(20, 24, 3)
    alpha = np.zeros((20, 24), np.uint8)
    K = np.eye(3)
    runs = [[zoom_and_crop(img, alpha, K, (1.0, 1.0), (5, 5), torch.Generator().manual_seed(s))[2][0, 2]
             for s in range(8)] for _ in range(2)]
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


def test_a_zoom_from_a_larger_photo_keeps_its_detail():
    """With ``size`` half the photo's, a zoom of 2 is the photo itself (K unchanged), its one-pixel
    stripes intact, where zooming a half-size copy would blur them away; a zoom of 1 is the
    half-size copy."""
    img = np.zeros((16, 20, 3), np.uint8)
    img[:, ::2] = 255  # one-pixel stripes
    alpha = np.full((16, 20), 255, np.uint8)
    K = np.array([[20.0, 0, 9.5], [0, 20.0, 7.5], [0, 0, 1]])
    g = torch.Generator().manual_seed(0)
    out, _, K2 = zoom_and_crop(img, alpha, K, (2.0, 2.0), (0, 0), g, size=(8, 10))
    assert np.array_equal(out, img) and np.allclose(K2, K)
    half, _, K1 = zoom_and_crop(img, alpha, K, (1.0, 1.0), (0, 0), g, size=(8, 10))
    assert half.shape == (8, 10, 3) and np.abs(half.astype(int) - 127).max() <= 1
    assert np.allclose(K1[0, 0], 10.0) and np.allclose(K1[:2, 2], [4.5, 3.5])


def test_training_views_zoom_straight_from_the_photos(tmp_path):
    """CameraImageDataset at INPUT.SIZE half the photos' size: a zoom of 2 gives the photo's own
    pixels (and K), not an enlargement of the half-size copy."""
    img = np.zeros((16, 20, 3), np.uint8)
    img[:, ::2] = 255
    K = np.array([[20.0, 0, 9.5], [0, 20.0, 7.5], [0, 0, 1]])
    write_native_scene(tmp_path / "s", np.eye(4)[None], K[None], [img],
                       [np.full((16, 20), 255, np.uint8)], np.zeros((4, 3), np.float32))
    scene = load_native_scene(tmp_path / "s")
    item = CameraImageDataset(scene, [0], 0, (8, 10), (2.0, 2.0), (16, 20))[0]
    assert torch.equal(item["image"], torch.from_numpy(img).permute(2, 0, 1).float() / 255)
    assert torch.allclose(item["K"], torch.from_numpy(K).float())
    plain = CameraImageDataset(scene, [0], 0, (8, 10))[0]
    assert plain["image"].shape == (3, 8, 10) and (plain["image"] - 0.5).abs().max() < 0.01
