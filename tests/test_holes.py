"""Points for the holes a cloud leaves in the photos (npcr.capture.holes)."""
import numpy as np

from npcr.capture.holes import HoleOptions, enclosed, hole_points

H, W, F = 60, 80, 50.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
HOLE = (20, 36, 30, 46)  # rows, columns of the hole in the wall, as seen by the camera


def _wall_with_hole() -> tuple[np.ndarray, np.ndarray]:
    """Points of a wall at depth 5 in front of a camera at the origin, the hole cut out and the
    wall ending at column 64 (open background to its right); and the photo: grey wall, black
    hole, white background."""
    ys, xs = np.mgrid[-4:4:0.04, -4:4:0.04]
    col, row = np.round(F * xs / 5 + K[0, 2]), np.round(F * ys / 5 + K[1, 2])  # pixels hit
    r0, r1, c0, c1 = HOLE
    in_hole = (row >= r0) & (row < r1) & (col >= c0) & (col < c1)
    keep = ~in_hole & (col <= 64)
    points = np.stack([xs[keep], ys[keep], np.full(keep.sum(), 5.0)], 1)
    photo = np.full((H, W, 3), 255, np.uint8)
    photo[:, :65] = 128
    photo[r0:r1, c0:c1] = 0
    return points, photo


def test_points_fill_the_hole_and_not_the_background():
    points, photo = _wall_with_hole()
    xyz, rgb = hole_points([(photo, None)], K[None], np.eye(4)[None], points,
                           HoleOptions(max_size=W, close=3, stride=1))
    r0, r1, c0, c1 = HOLE
    area = (r1 - r0) * (c1 - c0)
    assert 0.8 * area <= len(xyz) <= area  # about one per hole pixel (merged on pixel-sized voxels)
    u = F * xyz[:, 0] / xyz[:, 2] + K[0, 2]
    v = F * xyz[:, 1] / xyz[:, 2] + K[1, 2]
    assert (u > c0 - 1).all() and (u < c1).all() and (v > r0 - 1).all() and (v < r1).all()
    assert np.allclose(xyz[:, 2], 5 * 1.05, atol=1e-5)  # just behind the rim
    assert np.allclose(rgb, 0)  # the photo's colour there


def test_regions_reaching_the_border_or_outside_pixels_are_not_holes():
    uncovered = np.zeros((8, 8), bool)
    uncovered[2:4, 2:4] = True  # enclosed
    uncovered[5:7, 5:8] = True  # reaches the border
    uncovered[2:4, 5:7] = True  # next to an outside pixel
    outside = np.zeros((8, 8), bool)
    outside[1, 6] = True
    holes = enclosed(uncovered, outside)
    assert holes.sum() == 4 and holes[2:4, 2:4].all()
    # a mask that marks the whole photo outside leaves no hole
    photo = np.zeros((H, W, 3), np.uint8)
    points, _ = _wall_with_hole()
    xyz, _ = hole_points([(photo, np.zeros((H, W), bool))], K[None], np.eye(4)[None], points,
                         HoleOptions(max_size=W, close=3, stride=1))
    assert len(xyz) == 0


def test_scene_loads_with_hole_points_from_its_training_photos_only(tmp_path):
    """DATASETS.FILL_HOLES: the same points at every load, none from a held-out photo (camera 2
    shows a red hole), none without the key."""
    from npcr.config import load_config
    from npcr.data.npcr_layout import write_native_scene
    from npcr.engine.scene_data import load_scene

    points, photo = _wall_with_hole()
    red = photo.copy()
    r0, r1, c0, c1 = HOLE
    red[r0:r1, c0:c1] = (255, 0, 0)
    write_native_scene(tmp_path / "scene", np.stack([np.eye(4)] * 3), np.stack([K] * 3),
                       [photo, photo, red], [np.full((H, W), 255, np.uint8)] * 3, points,
                       np.full_like(points, 0.5))
    opts = ["DATASETS.ROOT", str(tmp_path / "scene"), "DATASETS.VAL_CAMERAS", "[2]"]
    plain = load_scene(load_config(None, opts))
    filled = [load_scene(load_config(None, opts + ["DATASETS.FILL_HOLES", "True"]))
              for _ in range(2)]
    assert plain.clouds.total == len(points)
    added = filled[0].clouds.total - len(points)
    assert added > 0.8 * (r1 - r0) * (c1 - c0) / 4  # every 2nd pixel each way
    assert filled[1].clouds.total == filled[0].clouds.total
    assert np.allclose(filled[0].colors[len(points):].numpy(), 0)  # black: cameras 0 and 1 only
