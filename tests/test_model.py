"""Model v0: shapes, odd image sizes, gradients reach the point features."""
import pytest
import torch
import torch.nn.functional as F

import pcpr_ext
from npcr.config import load_config
from npcr.modeling import AntialiasedUNet, PointRenderer, build_model
from npcr.geometry import Cameras
from helpers import camera, intrinsics


def test_unet_keeps_any_size():
    net = AntialiasedUNet(5, 4, [8, 16, 16])
    for h, w in ((32, 32), (19, 27), (1, 9)):
        assert net(torch.randn(2, 5, h, w)).shape == (2, 4, h, w)


def test_renderer_forward_and_gradients():
    cfg = load_config(None, ["MODEL.NUM_LAYERS", "2", "MODEL.FEATURE_DIM", "3",
                             "MODEL.UNET_CHANNELS", "[8, 16]", "MODEL.MAX_SPLAT", "2"])
    pts = torch.randn(200, 3) * 0.5
    model = build_model(cfg, 200, depth_range=(0.5, 10.0))
    K = intrinsics(f=12.0, cx=7.5, cy=5.5)[None].repeat(2, 1, 1)
    c2w = torch.stack([camera((0, 0, -4.0)), camera((4.0, 0, 0))])
    out = model.render_cloud(pts, Cameras(K, c2w, 12, 16))
    assert out["rgb"].shape == (2, 3, 12, 16) and out["alpha"].shape == (2, 1, 12, 16)
    assert out["depth"].shape == (2, 2, 12, 16)
    assert 0 <= out["rgb"].min() and out["rgb"].max() <= 1
    (out["rgb"].mean() + out["alpha"].mean()).backward()
    seen = model.features.grad.abs().sum(1) > 0
    assert 0 < int(seen.sum()) <= 200 and model.background.grad.abs().sum() > 0


def test_depth_range_from_points_when_config_says_zero(tmp_path):
    from npcr.data import write_native_scene
    from npcr.data.demo_scene import make_demo_scene
    from npcr.engine.scene_data import depth_range, load_scene

    s = make_demo_scene(seed=0, size=16, num_cameras=3, strands=10, num_points=500, distance=3.0)
    write_native_scene(tmp_path / "s", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    auto = load_config(None, ["DATASETS.ROOT", str(tmp_path / "s")])
    near, far = depth_range(auto, load_scene(auto))
    assert 1.5 < near < 2.5 and 3.5 < far < 5.0  # the ball spans depths 3 -+ 1 from each camera
    fixed = load_config(None, ["DATASETS.ROOT", str(tmp_path / "s"), "MODEL.NEAR", "0.5"])
    assert depth_range(fixed, load_scene(fixed)) == (0.5, far)


def test_mixed_frame_batches_render_like_single_frames():
    from npcr.modeling import FrameClouds

    cfg = load_config(None, ["MODEL.FEATURE_DIM", "3", "MODEL.UNET_CHANNELS", "[8, 16]",
                             "MODEL.NUM_LAYERS", "2"])
    g = torch.Generator().manual_seed(0)
    clouds = FrameClouds({0: torch.randn(150, 3, generator=g) * 0.5,
                          3: torch.randn(90, 3, generator=g) * 0.5})
    model = build_model(cfg, clouds.total, depth_range=(0.5, 10.0)).eval()
    K = intrinsics(f=12.0, cx=7.5, cy=7.5)[None].repeat(3, 1, 1)
    c2w = torch.stack([camera((0, 0, -4.0)), camera((4.0, 0, 0)), camera((0, 0, 4.0))])
    with torch.no_grad():
        mixed = model(clouds, [3, 0, 3], Cameras(K, c2w, 16, 16))
        for b, f in enumerate([3, 0, 3]):
            single = model(clouds, [f], Cameras(K[b:b + 1], c2w[b:b + 1], 16, 16))
            assert torch.allclose(mixed["rgb"][b], single["rgb"][0], atol=1e-6)
        # frame 3's points use feature rows 150..239: a model holding only those rows renders
        # frame 3's cloud the same
        d, i = model.depth_layers(clouds.points[3], Cameras(K[:1], c2w[:1], 16, 16))
        alone = build_model(cfg, 90, depth_range=(0.5, 10.0)).eval()
        alone.load_state_dict({**model.state_dict(), "features": model.features[150:]})
        own_rows = alone.render_cloud(clouds.points[3], Cameras(K[:1], c2w[:1], 16, 16))
    assert (i >= 0).any() and mixed["depth"][0].equal(d[0])
    assert torch.allclose(mixed["rgb"][0], own_rows["rgb"][0], atol=1e-6)
    assert not torch.allclose(mixed["rgb"][0], model.render_cloud(
        clouds.points[3], Cameras(K[:1], c2w[:1], 16, 16))["rgb"][0], atol=1e-3)  # rows 0..89 differ


def test_group_norm_by_reduction_matches_torch():
    """The CUDA path of the U-Net's GroupNorm (run here on the CPU) equals F.group_norm in value
    and gradient, for one and several images and groups."""
    from npcr.modeling.unet import group_norm_by_reduction

    g = torch.Generator().manual_seed(0)
    for shape, groups, affine in (((1, 16, 40, 56), 2, True), ((3, 32, 7, 9), 4, True),
                                  ((2, 8, 5), 1, True), ((2, 12, 6, 4), 3, False)):
        x = (torch.randn(shape, generator=g) * 3 + 1).double().requires_grad_()
        params = [torch.randn(shape[1], generator=g).double().requires_grad_() if affine else None
                  for _ in range(2)]
        ours = group_norm_by_reduction(x, groups, *params, 1e-5)
        ref = torch.nn.functional.group_norm(x, groups, *params, 1e-5)
        # statistics are taken in float32, like the float32 model
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        up = torch.randn(shape, generator=g).double()
        inputs = (x, *params) if affine else (x,)
        grads = torch.autograd.grad((ours * up).sum(), inputs)
        ref_grads = torch.autograd.grad((ref * up).sum(), inputs)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_environment_background_depends_on_the_viewing_direction():
    """With MODEL.ENVIRONMENT, empty pixels get a feature of their ray's direction: cameras looking
    opposite ways see different backgrounds, and rendering trains the map."""
    cfg = load_config(None, ["MODEL.FEATURE_DIM", "3", "MODEL.UNET_CHANNELS", "[8, 16]",
                             "MODEL.ENVIRONMENT", "[8, 16]"])
    model = build_model(cfg, 10, depth_range=(0.5, 10.0))
    with torch.no_grad():
        model.environment[0] = torch.linspace(-1, 1, 16)[None].expand(8, -1)  # varies with azimuth
    K = intrinsics(f=12.0, cx=7.5, cy=7.5)[None].repeat(2, 1, 1)
    c2w = torch.stack([camera((0, 0, -4.0)), camera((0, 0, 4.0))])  # looking +z and -z
    env = model.environment_features(Cameras(K, c2w, 16, 16))
    assert env.shape == (2, 3, 16, 16)
    assert (env[0, 0] - env[1, 0]).abs().mean() > 0.3 and env[0, 1].abs().max() == 0
    out = model.render_cloud(torch.full((10, 3), 100.0), Cameras(K, c2w, 16, 16))  # no point in view
    out["rgb"].mean().backward()
    assert model.environment.grad.abs().sum() > 0


def _small_model(*opts):
    cfg = load_config(None, ["MODEL.NUM_LAYERS", "2", "MODEL.FEATURE_DIM", "3",
                             "MODEL.UNET_CHANNELS", "[8, 16, 16]", *opts])
    return build_model(cfg, 300, depth_range=(0.5, 10.0))


def test_one_point_level_without_supersampling_is_the_plain_network():
    """MODEL.SUPERSAMPLE 1 and MODEL.POINT_LEVELS 1: gather the projected layers, one U-Net pass."""
    import pcpr_ext

    torch.manual_seed(0)
    model, pts = _small_model().eval(), torch.randn(300, 3) * 0.5
    K, c2w = intrinsics(f=12.0, cx=9.5, cy=6.5)[None], camera((0, 0, -4.0))[None]
    with torch.no_grad():
        out = model.render_cloud(pts, Cameras(K, c2w, 16, 20))  # a multiple of the U-Net's stride
        d, i = model.depth_layers(pts, Cameras(K, c2w, 16, 20))
        feats = pcpr_ext.gather_features(model.features, i, model.background).flatten(1, 2)
        plain = torch.sigmoid(model.unet(feats))
    assert out["depth"].equal(d) and (i >= 0).any()
    assert torch.allclose(out["rgb"], plain[:, :3], atol=1e-6)


def test_input_kernel_one_mixes_each_pixel_before_its_neighbours():
    from npcr.errors import NpcrError
    opts = ["MODEL.FEATURE_DIM", "3", "MODEL.NUM_LAYERS", "2", "MODEL.UNET_CHANNELS", "[8, 16]",
            "MODEL.SUPERSAMPLE", "2"]
    plain = build_model(load_config(None, opts), 50, depth_range=(0.5, 10.0))
    model = build_model(load_config(None, opts + ["MODEL.UNET_INPUT_KERNEL", "1"]), 50,
                        depth_range=(0.5, 10.0))
    assert plain.unet.inc[0].kernel_size == (3, 3)
    first = model.unet.inc[0]
    assert first.kernel_size == (1, 1) and first.weight.shape == (8, 2 * 3 * 4, 1, 1)
    x = torch.randn(1, 24, 9, 11, requires_grad=True)
    first(x)[0, :, 4, 5].sum().backward()  # one output pixel reads its own input pixel only
    assert (x.grad.abs().sum(1)[0] > 0).nonzero().tolist() == [[4, 5]]
    out = model.render_cloud(torch.randn(50, 3) * 0.5, Cameras(
        intrinsics(f=12.0, cx=5.5, cy=4.5)[None], camera((0, 0, -4.0))[None], 9, 11))
    assert out["rgb"].shape == (1, 3, 9, 11)
    with pytest.raises(NpcrError, match="MODEL.UNET_INPUT_KERNEL must be an odd integer >= 1"):
        load_config(None, ["MODEL.UNET_INPUT_KERNEL", "2"])


def test_supersampling_and_point_levels_render_any_size_with_gradients():
    torch.manual_seed(0)
    model, pts = _small_model("MODEL.SUPERSAMPLE", "2", "MODEL.POINT_LEVELS", "3"), \
        torch.randn(300, 3) * 0.5
    assert model.unet.inc[0].in_channels == 4 * 2 * 3  # s² L C
    K = intrinsics(f=12.0, cx=9.5, cy=6.5)[None].repeat(2, 1, 1)
    c2w = torch.stack([camera((0, 0, -4.0)), camera((4.0, 0, 0))])
    cams = model.level_cameras(Cameras(K, c2w, 13, 21))
    assert [c.size for c in cams] == [(32, 48), (8, 12), (4, 6)]  # padded to 16x24
    out = model.render_cloud(pts, Cameras(K, c2w, 13, 21))
    assert out["rgb"].shape == (2, 3, 13, 21) and out["depth"].shape == (2, 2, 13, 21)
    out["rgb"].mean().backward()
    assert model.unet.downs[1].conv[0].weight.grad.abs().sum() > 0  # the coarsest point level
    assert int((model.features.grad.abs().sum(1) > 0).sum()) > 0
    # a point seen at pixel (x, y) lands at ((x + 0.5) / 2^k - 0.5, ...) of level k
    one = torch.tensor([[0.3, -0.2, 0.0]])
    hits = []
    for level in cams:
        _, i = model.depth_layers(one, level[0])
        y, x = torch.nonzero(i[0, 0] >= 0)[0].tolist()
        hits.append((x, y))
    (x0, y0), (x2, y2) = hits[0], hits[2]
    assert abs((x0 + 0.5) / 8 - 0.5 - x2) <= 1 and abs((y0 + 0.5) / 8 - 0.5 - y2) <= 1


def test_renders_far_finer_than_training_are_made_at_the_largest_scale_and_upsampled():
    import torch.nn.functional as F

    torch.manual_seed(0)
    model, pts = _small_model("MODEL.MAX_RENDER_SCALE", "2.0").eval(), torch.randn(300, 3) * 0.5
    model.reference_focal = 12.0  # the training photos' focal length
    cameras = Cameras(intrinsics(f=12.0, cx=7.5, cy=7.5)[None], camera((0, 0, -4.0))[None], 16, 16)
    fine_cameras = cameras.resized(64, 64)  # 4x the training resolution: made at 2x, upsampled
    assert model.render_scale(cameras) == 1 and model.render_scale(cameras.resized(32, 32)) == 1
    assert model.render_scale(fine_cameras) == 2
    with torch.no_grad():
        fine = model.render_cloud(pts, fine_cameras)
        half = model.render_cloud(pts, cameras.resized(32, 32))
    assert fine["rgb"].shape == (1, 3, 64, 64) and fine["depth"].shape == (1, 2, 64, 64)
    assert torch.allclose(fine["rgb"], F.interpolate(half["rgb"], size=(64, 64), mode="bilinear",
                                                     align_corners=False))
    model.max_render_scale = 0.0  # off: rendered directly
    with torch.no_grad():
        direct = model.render_cloud(pts, fine_cameras)
    assert not torch.allclose(direct["rgb"], fine["rgb"], atol=1e-3)
    assert model.train().render_scale(fine_cameras) == 1  # training never rescales


def test_view_direction_enters_the_network():
    torch.manual_seed(0)
    model, pts = _small_model("MODEL.VIEW_DIRECTION", "True"), torch.randn(300, 3) * 0.5
    assert model.unet.inc[0].in_channels == 2 * 3 + 3
    K, c2w = intrinsics(f=12.0, cx=7.5, cy=5.5)[None], camera((4.0, 0, 0))[None]
    d = Cameras(K, c2w, 12, 16).directions()
    assert torch.allclose(d.norm(dim=-1), torch.ones(1, 12, 16))
    assert torch.allclose(d[0, 5:7, 7:9].mean((0, 1)), c2w[0, :3, 2], atol=0.05)  # optical axis
    out = model.render_cloud(pts, Cameras(K, c2w, 12, 16))
    out["rgb"].mean().backward()
    assert model.unet.inc[0].weight.grad[:, -3:].abs().sum() > 0  # the direction channels learn


def test_rescaled_renders_under_autocast_keep_float32_cameras():
    """Under autocast a matrix product would turn the resized intrinsics into half floats (the
    GPU check found a capped 1024² render failing so)."""
    from npcr.geometry import resize_intrinsics

    torch.manual_seed(0)
    model = _small_model("MODEL.SUPERSAMPLE", "2", "MODEL.POINT_LEVELS", "2").eval()
    model.reference_focal = 12.0
    pts = torch.randn(300, 3) * 0.5
    K, c2w = intrinsics(f=48.0, cx=31.5, cy=31.5)[None], camera((0, 0, -4.0))[None]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert resize_intrinsics(K, 0.5).dtype == torch.float32
        out = model.render_cloud(pts, Cameras(K, c2w, 64, 64))  # 4x the training focal: made at 2x
    with torch.no_grad():
        plain = model.render_cloud(pts, Cameras(K, c2w, 64, 64))
    assert out["rgb"].shape == (1, 3, 64, 64) and out["depth"].equal(plain["depth"])


def test_supersampled_gather_is_the_pixel_unshuffle_of_the_plain_one():
    """The renderer gathers supersampled features straight into F.pixel_unshuffle's channel order
    (checkpoints depend on it), with and without gradient, and with an environment background;
    on the CPU in pixel-major (channels-last) memory."""
    torch.manual_seed(0)
    model = PointRenderer(50, 5, 3, [8, 16], supersample=2, environment=(4, 8))
    index = torch.randint(-1, 50, (2, 3, 12, 16))
    env = torch.randn(2, 5, 12, 16)
    for background in (None, env):
        plain = pcpr_ext.gather_features(model.features, index, model.background)
        if background is not None:
            plain = torch.where(index[:, :, None] < 0, background[:, None], plain)
        expected = F.pixel_unshuffle(plain.flatten(1, 2), 2)
        gathered = model.gather(index, background, 2)
        assert torch.equal(gathered, expected)
        # on the CPU already in the U-Net's pixel-major layout: no map-sized transposing copy
        assert gathered.is_contiguous(memory_format=torch.channels_last)
        weights = torch.randn_like(expected)  # the same gradients into features and background
        grads = [torch.autograd.grad((weights * out).sum(), [model.features, model.background])
                 for out in (gathered, expected)]
        assert grads[0][0].abs().sum() > 0
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads))
        with torch.no_grad():
            assert torch.equal(model.gather(index, background, 2), expected)
            assert torch.equal(model.gather(index, background), plain.flatten(1, 2))


def test_splat_skip_starts_from_the_point_colour_splat():
    """MODEL.SPLAT_SKIP: with the U-Net's RGB output at zero the render is the splat of the points'
    feature colours (PointColourSplat, 2x supersampled, the background feature where no point is);
    the network's output moves it, and the features learn through both paths."""
    from npcr.engine.baselines import PointColourSplat

    torch.manual_seed(0)
    model = _small_model("MODEL.SPLAT_SKIP", "True", "MODEL.SUPERSAMPLE", "2",
                         "MODEL.POINT_LEVELS", "2", "MODEL.MAX_SPLAT", "2")
    pts = torch.randn(300, 3) * 0.5
    colours = torch.rand(300, 3) * 0.8 + 0.1
    model.init_features_from_colors(colours)
    with torch.no_grad():
        model.background.copy_(torch.tensor([-0.6, 0.0, 0.6]))  # colour (0.2, 0.5, 0.8)
    K, c2w = intrinsics(f=14.0, cx=8.5, cy=6.5)[None], camera((0, 0, -4.0))[None]
    splat = PointColourSplat(pts, colours, 0.5, 10.0, max_splat=2, supersample=2, opaque=True)
    splat.background = torch.tensor([0.2, 0.5, 0.8])
    expected, _ = splat.render(Cameras(K, c2w, 13, 17))
    with torch.no_grad():
        model.unet.head.weight[:3].zero_()
        model.unet.head.bias[:3].zero_()
        out = model.render_cloud(pts, Cameras(K, c2w, 13, 17))
    assert torch.allclose(out["rgb"], expected, atol=1e-5)
    assert 0.1 < float((expected - 0.5).abs().mean())  # not a flat grey image
    with torch.no_grad():
        model.unet.head.bias[:3].fill_(1.0)
        brighter = model.render_cloud(pts, Cameras(K, c2w, 13, 17))["rgb"]
    assert (brighter > out["rgb"]).all()
    model.render_cloud(pts, Cameras(K, c2w, 13, 17))["rgb"].mean().backward()
    assert model.features.grad[:, :3].abs().sum() > 0


def test_splat_skip_needs_three_feature_channels():
    import pytest

    from npcr.errors import NpcrError

    with pytest.raises(NpcrError, match="MODEL.SPLAT_SKIP reads colours.*MODEL.FEATURE_DIM 2"):
        load_config(None, ["MODEL.SPLAT_SKIP", "True", "MODEL.FEATURE_DIM", "2"])


def test_npcrs_blur_pool_is_antialiased_cnns_bit_for_bit():
    """MODEL.BLUR_POOL npcr (MIT) for antialiased-cnns (CC BY-NC-SA 4.0): the same outputs and
    gradients bit for bit, the same state-dict entries, checkpoints interchangeable."""
    import antialiased_cnns

    from npcr.config.validate import RULES
    from npcr.modeling.unet import BLUR_POOLS, BlurPool

    assert all(RULES["MODEL.BLUR_POOL"][0](name) for name in BLUR_POOLS)
    x = torch.rand(2, 6, 13, 18, requires_grad=True)
    ours, theirs = BlurPool(6), antialiased_cnns.BlurPool(6, stride=2)
    y_ours, y_theirs = ours(x), theirs(x)
    assert y_ours.shape == (2, 6, 7, 9) and torch.equal(y_ours, y_theirs)
    g = torch.rand_like(y_ours)
    assert torch.equal(torch.autograd.grad(y_ours, x, g)[0], torch.autograd.grad(y_theirs, x, g)[0])
    torch.manual_seed(0)
    a = AntialiasedUNet(5, 4, [8, 16, 16], blur_pool="antialiased-cnns").eval()
    b = AntialiasedUNet(5, 4, [8, 16, 16], blur_pool="npcr").eval()
    b.load_state_dict(a.state_dict())  # strict: the same entries
    image = torch.rand(1, 5, 40, 52)
    with torch.no_grad():
        assert torch.equal(a(image), b(image))


def test_filled_depth_takes_the_nearest_sample_then_the_coarser_levels():
    """A pixel's depth is its nearest supersample's point; where no supersample hit a point, the
    next coarser point level's; where none, 0 (a sparse cloud rendered large stays covered)."""
    from npcr.modeling.renderer import filled_depth

    fine = torch.zeros(1, 1, 4, 4)  # supersample 2: 2 x 2 pixels
    fine[0, 0, 1, 1], fine[0, 0, 0, 3], fine[0, 0, 1, 2] = 3.0, 2.5, 2.0
    half = torch.tensor([[[[0.0]]]])
    coarse = torch.tensor([[[[4.0, 0.0], [5.0, 0.0]]]])  # level 1; level 2 (half) is empty
    levels = [(fine, fine.long()), (coarse, coarse.long()), (half, half.long())]
    depth = filled_depth(levels, 2)
    assert depth.tolist() == [[[[3.0, 2.0], [5.0, 0.0]]]]
