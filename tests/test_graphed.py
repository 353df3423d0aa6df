"""GraphedRenderer: frames replayed from CUDA graphs equal the model's own (GPU), a plain call
elsewhere (CPU, training, gradients)."""
import pytest
import torch

from npcr.config import load_config
from npcr.geometry import Cameras
from npcr.modeling import FrameClouds, GraphedRenderer, build_model
from helpers import camera, intrinsics

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _scene(device: str, *opts: str):
    """A small model with the demo's supersampling and point levels, two frames' clouds, three
    cameras (36 x 48)."""
    torch.manual_seed(0)
    cfg = load_config(None, ["MODEL.NUM_LAYERS", "2", "MODEL.FEATURE_DIM", "4",
                             "MODEL.UNET_CHANNELS", "[8, 16, 16]", "MODEL.SUPERSAMPLE", "2",
                             "MODEL.POINT_LEVELS", "3", "MODEL.MAX_SPLAT", "2", *opts])
    model = build_model(cfg, 3000, depth_range=(0.5, 10.0)).to(device).eval()
    pts = torch.randn(3000, 3) * 0.6
    clouds = FrameClouds({0: pts[:2000], 1: pts[2000:]}).to(device)
    K = intrinsics(f=40.0, cx=23.5, cy=17.5)[None].repeat(3, 1, 1).to(device)
    c2w = torch.stack([camera((0, 0, -4.0)), camera((4.0, 0.5, 0)), camera((-1, 2, -3.0))])
    return model, clouds, Cameras(K, c2w.to(device), 36, 48)


def test_off_the_gpu_it_is_the_model():
    model, clouds, cameras = _scene("cpu")
    render = GraphedRenderer(model, clouds)
    with torch.no_grad():
        for _ in range(3):
            assert render([0], cameras[0])["rgb"].equal(model(clouds, [0], cameras[0])["rgb"])
    assert not render.graphs


@cuda
def test_replayed_frames_equal_the_models_frames():
    model, clouds, cameras = _scene("cuda")
    render = GraphedRenderer(model, clouds, max_graphs=2)
    with torch.no_grad():
        for size in ((36, 48), (36, 48), (20, 30), (36, 48), (20, 30), (20, 30), (13, 21)):
            for b in range(3):  # each camera in turn: its inputs are copied in before each replay
                frames, cams = [b % 2], cameras[b].resized(*size)
                got = render(frames, cams)
                want = model(clouds, frames, cams)
                for name in ("rgb", "alpha", "depth"):
                    assert torch.allclose(got[name], want[name], atol=1e-5), (size, b, name)
        assert len(render.graphs) == 2  # the two most recent settings kept
        # cameras of different frames in one call
        flipped = Cameras(cameras.K.flip(0), cameras.cam_to_world.flip(0), 36, 48)
        got = render([0, 1, 0], cameras)
        got = render([0, 1, 0], flipped)
        assert torch.allclose(got["rgb"], model(clouds, [0, 1, 0], flipped)["rgb"], atol=1e-5)
    assert not render.failed and render.graphs


@cuda
def test_a_setting_that_cannot_be_captured_is_rendered_directly():
    model, clouds, cameras = _scene("cuda")
    render = GraphedRenderer(model, clouds)
    decode = model.decode

    def waits_for_the_gpu(*args, **kwargs):
        out = decode(*args, **kwargs)
        out["rgb"].sum().item()  # a host sync: not allowed while capturing
        return out

    model.decode = waits_for_the_gpu
    with torch.no_grad():
        for b in range(3):
            got = render([0], cameras[b])
            assert torch.allclose(got["rgb"], model(clouds, [0], cameras[b])["rgb"], atol=1e-6)
    assert render.failed and not render.graphs


@cuda
def test_the_demo_settings_render_without_host_syncs():
    """A frame that waited for the GPU could not be captured (and would stall the GPU)."""
    model = build_model(load_config("configs/demo.yml", ["MODEL.NEAR", "1.0", "MODEL.FAR", "5.0"]),
                        3000).cuda().eval()
    _, clouds, cameras = _scene("cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            model(clouds, [0], cameras[0].resized(64, 64), scale=1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
