"""PhotoCache: training views read each photo's file once, up to a memory budget, and are the
same views as those read from the files."""
import numpy as np
import torch

from npcr.data import CameraImageDataset, PhotoCache
from npcr.data.npcr_layout import load_native_scene, write_native_scene


def counted_reads(scene) -> list:
    """Make ``scene.read`` record each (frame, camera) it is called with."""
    calls, read = [], scene.read
    scene.read = lambda frame, cam: calls.append((frame, cam)) or read(frame, cam)
    return calls


def test_photos_are_read_once_within_the_budget(tmp_path):
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    K = np.array([[16.0, 0, 7.5], [0, 16.0, 5.5], [0, 0, 1]])
    write_native_scene(tmp_path / "s", np.repeat(np.eye(4)[None], 3, 0), np.repeat(K[None], 3, 0),
                       photos, [np.full((12, 16), 255, np.uint8)] * 3, np.zeros((4, 3), np.float32))
    scene = load_native_scene(tmp_path / "s")
    photo_mib = (12 * 16 * 4) / 2 ** 20  # RGB and alpha
    calls = counted_reads(scene)
    cache = PhotoCache(scene, 2.5 * photo_mib)  # room for two of the three photos
    cached = CameraImageDataset(scene, [0, 1, 2], 0, (6, 8), (0.8, 1.5), (6, 8), photos=cache)
    views = [cached.item(i, torch.Generator().manual_seed(10 * epoch + i))
             for epoch in range(3) for i in range(3)]
    assert calls == [(0, 0), (0, 1), (0, 2), (0, 2), (0, 2)]  # the third photo is over budget
    assert len(cache.photos) == 2 and cache.used <= cache.budget
    plain = CameraImageDataset(scene, [0, 1, 2], 0, (6, 8), (0.8, 1.5), (6, 8))
    for epoch in range(3):
        for i in range(3):
            a = views[3 * epoch + i]
            b = plain.item(i, torch.Generator().manual_seed(10 * epoch + i))
            assert all(torch.equal(a[k], b[k]) for k in ("image", "alpha", "valid", "K"))

    calls.clear()
    none = CameraImageDataset(scene, [0], 0, (6, 8), photos=PhotoCache(scene, 0))
    none[0], none[0]
    assert calls == [(0, 0), (0, 0)]
