"""The non-learned baselines: mean colour and the point-colour splat (fitted with no network)."""
import torch

from npcr.geometry import Cameras
from helpers import camera, intrinsics
from npcr.engine.baselines import PointColourSplat, best_fitted_splat, mean_colour_psnr
from npcr.metrics import psnr


def _plane(n: int = 500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on the z = 0 square [-1, 1]², coloured by a smooth pattern of x and y."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 2 - 1
    colors = torch.stack([0.5 + 0.4 * xy[:, 0], 0.5 + 0.4 * xy[:, 1], 0.3 + 0 * xy[:, 0]], 1)
    return torch.cat([xy, torch.zeros(n, 1)], 1), colors


def _views(points, colors, eyes, size=24):
    truth = PointColourSplat(points, colors, 0.5, 10.0)
    out = []
    for eye in eyes:
        K, c2w = intrinsics(f=30.0, cx=11.5, cy=11.5)[None], camera(eye)[None]
        rgb, _ = truth.render(Cameras(K, c2w, size, size))
        out.append({"image": rgb[0], "valid": torch.ones(1, size, size), "K": K[0],
                    "cam_to_world": c2w[0]})
    return out


def test_splat_averages_its_supersamples_and_is_transparent_where_empty():
    points = torch.tensor([[0.0, 0.0, 0.0]])
    splat = PointColourSplat(points, torch.tensor([[1.0, 0.5, 0.0]]), 0.5, 10.0, supersample=2)
    K, c2w = intrinsics(f=10.0, cx=3.5, cy=3.5)[None], camera((0, 0, -5.0))[None]
    index = splat.index(Cameras(K, c2w, 8, 8))
    assert index.shape == (1, 16, 16) and int((index >= 0).sum()) == 1  # one supersample
    rgb, alpha = splat.shade(index)
    assert alpha.sum() == 0.25 and torch.allclose(rgb.sum((2, 3))[0], torch.tensor([0.25, 0.125, 0]))
    opaque = PointColourSplat(points, torch.ones(1, 3), 0.5, 10.0, opaque=True)
    opaque.background = torch.tensor([0.0, 0.0, 1.0])
    rgb, alpha = opaque.render(Cameras(K, c2w, 8, 8))
    assert (alpha == 1).all() and rgb[0, 2].min() == 1 and rgb[0, 0].max() == 0.25


def test_fitted_colours_reproduce_unseen_views_of_a_coloured_plane():
    points, colors = _plane()
    train = _views(points, colors, [(x, y, -4.0) for x in (-1, 0, 1) for y in (-1, 1)])
    held_out = _views(points, colors, [(0.5, 0.0, -4.0)])
    grey = torch.full_like(colors, 0.5)
    before = PointColourSplat(points, grey, 0.5, 10.0).psnr(held_out)
    splat, size = best_fitted_splat(points, None, 0.5, 10.0, train, opaque=False, sizes=(1, 2),
                                    epochs=20)
    after = splat.psnr(held_out)
    assert size == 1 and before < 25 < 35 < after, (before, after)
    mean = mean_colour_psnr(train, held_out)
    assert mean < after and abs(mean - psnr(
        torch.stack([v["image"].mean((1, 2)) for v in train]).mean(0)[:, None, None].expand(3, 24, 24),
        held_out[0]["image"])) < 1e-9


def test_demo_truth_of_any_camera_path_matches_the_scene():
    """bench_refine's ground truth: the demo mesh rendered at the scene's own cameras gives the
    scene's photos and mattes exactly, and another camera another picture."""
    import numpy as np

    from npcr.data.demo_scene import demo_mesh, make_demo_scene, render_mesh

    s = make_demo_scene(seed=4, size=16, num_cameras=3, strands=20, num_points=100)
    images, alphas = render_mesh(demo_mesh(seed=4, strands=20), s.cam_to_world, s.K[0], 16)
    assert all(np.array_equal(a, b) for a, b in zip(images, s.images))
    assert all(np.array_equal(a, b) for a, b in zip(alphas, s.alphas))
    other = render_mesh(demo_mesh(seed=5, strands=20), s.cam_to_world[:1], s.K[0], 16)[0][0]
    assert not np.array_equal(other, images[0])
