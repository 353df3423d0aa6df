"""Per-photo exposure and white balance: learns a photo's known gains, is relative to the training
photos' mean, stays off in renders unless asked, and opaque models for photos without mattes."""
import numpy as np
import torch

from npcr.geometry import Cameras
from helpers import camera, intrinsics
from npcr.config import load_config
from npcr.modeling import FrameClouds, PhotometricCorrection, build_model


def test_gains_are_relative_to_the_training_photos():
    corr = PhotometricCorrection(4, [0, 1, 2], exposure=True, white_balance=True)
    with torch.no_grad():
        corr.log_gain[:] = torch.tensor([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.2, 0.2],
                                         [5.0, 5.0, 5.0]])
    gains = corr.gains(torch.arange(4))
    assert torch.allclose(gains[:3].log().mean(0), torch.zeros(3), atol=1e-6)
    exposure_only = PhotometricCorrection(4, [0, 1, 2], exposure=True, white_balance=False)
    exposure_only.load_state_dict(corr.state_dict())
    g = exposure_only.gains(torch.arange(4))
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    assert not torch.allclose(gains[0, 0], gains[0, 2])  # white balance differs per channel


def test_vignetting_is_one_at_the_principal_point():
    corr = PhotometricCorrection(1, [0], vignetting=True)
    with torch.no_grad():
        corr.vignette[:] = torch.tensor([-0.3, 0.0])
    f = corr.falloff(Cameras(intrinsics(f=10.0, cx=4.0, cy=3.0)[None], torch.eye(4)[None], 7, 9))
    assert f[0, 0, 3, 4] == 1 and f[0, 0, 0, 0] < f[0, 0, 3, 3] < 1


def test_training_recovers_a_photos_exposure_and_render_is_uncorrected_by_default():
    """Two photos of one view, the second 1.5x brighter in red: the corrections learn the ratio,
    the uncorrected render sits between the two photos."""
    cfg = load_config(None, ["MODEL.FEATURE_DIM", "4", "MODEL.UNET_CHANNELS", "[8, 16]",
                             "MODEL.PHOTOMETRIC.EXPOSURE", "True",
                             "MODEL.PHOTOMETRIC.WHITE_BALANCE", "True"])
    torch.manual_seed(0)
    pts = torch.randn(300, 3) * 0.5
    clouds = FrameClouds({0: pts})
    model = build_model(cfg, 300, (0.5, 10.0), opaque=True, num_cameras=2, train_cameras=[0, 1])
    K = intrinsics(f=12.0, cx=7.5, cy=7.5)[None].repeat(2, 1, 1)
    c2w = camera((0, 0, -4.0))[None].repeat(2, 1, 1)
    target = torch.full((2, 3, 16, 16), 0.4)
    target[1, 0] = 0.6
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        out = model(clouds, [0, 0], Cameras(K, c2w, 16, 16), photos=torch.tensor([0, 1]))
        loss = (out["rgb"] - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    gains = model.photometric.gains(torch.arange(2)).detach()
    assert abs(float(gains[1, 0] / gains[0, 0]) - 1.5) < 0.05
    assert abs(float(gains[1, 1] / gains[0, 1]) - 1.0) < 0.05
    with torch.no_grad():
        plain = model(clouds, [0], Cameras(K[:1], c2w[:1], 16, 16))
    red = float(plain["rgb"][0, 0].mean())
    assert 0.42 < red < 0.58 and torch.equal(plain["alpha"], torch.ones_like(plain["alpha"]))


def test_no_matte_photos_make_an_opaque_model(tmp_path):
    import cv2

    from npcr.data import write_native_scene
    from npcr.data.demo_scene import make_demo_scene
    from npcr.engine.scene_data import build_scene_model, load_scene

    s = make_demo_scene(seed=0, size=16, num_cameras=3, strands=10, num_points=500, distance=3.0)
    write_native_scene(tmp_path / "s", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    cfg = load_config(None, ["DATASETS.ROOT", str(tmp_path / "s")])
    assert not build_scene_model(cfg, load_scene(cfg)).opaque
    for alpha in (tmp_path / "s" / "img" / "0").glob("*_alpha.png"):
        alpha.unlink()
    data = load_scene(cfg)
    assert not data.mattes and build_scene_model(cfg, data).opaque
    rgb, alpha, valid = data.scene.read(0, 1)
    assert np.all(alpha == 255) and valid is None
    mask = np.full((16, 16), 255, np.uint8)
    mask[:, :3] = 0
    cv2.imwrite(str(tmp_path / "s" / "img" / "0" / "img_0001_valid.png"), mask)
    assert np.array_equal(load_scene(cfg).scene.read(0, 1)[2], mask > 0)


def test_crop_padding_of_photos_without_mattes_is_left_out(tmp_path):
    """Zoomed out below the crop, a photo is padded: background (alpha 0) where it has a matte,
    unknown (valid 0, out of the loss) where it has none."""
    from npcr.data import CameraImageDataset, write_native_scene
    from npcr.data.demo_scene import make_demo_scene
    from npcr.data.formats import load_scene_from

    s = make_demo_scene(seed=0, size=16, num_cameras=2, strands=10, num_points=300, distance=3.0)
    write_native_scene(tmp_path / "s", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    matte = CameraImageDataset(load_scene_from(tmp_path / "s"), [0], 0, (16, 16), (0.5, 0.5), (16, 16))[0]
    assert matte["valid"].all() and matte["alpha"][0, 12:, 12:].max() == 0
    for alpha in (tmp_path / "s" / "img" / "0").glob("*_alpha.png"):
        alpha.unlink()
    plain = CameraImageDataset(load_scene_from(tmp_path / "s"), [0], 0, (16, 16), (0.5, 0.5), (16, 16))[0]
    assert plain["valid"][0, :8, :8].all() and not plain["valid"][0, 8:].any()


def test_each_training_photo_gets_its_own_correction(tmp_path):
    """Photo j is read as camera j and trained with camera j's gains (ids off by one anywhere
    between the dataset and the correction would pair a photo with its neighbour's exposure)."""
    from npcr.data import CameraImageDataset, write_native_scene
    from npcr.data.demo_scene import make_demo_scene
    from npcr.data.formats import load_scene_from
    from npcr.engine.trainer import create_trainer

    s = make_demo_scene(seed=0, size=16, num_cameras=4, strands=10, num_points=300, distance=3.0)
    write_native_scene(tmp_path / "s", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    scene = load_scene_from(tmp_path / "s")
    dataset = CameraImageDataset(scene, [3, 1], 0, (16, 16))
    assert [dataset[i]["camera_id"] for i in range(2)] == [3, 1]
    assert torch.allclose(dataset[0]["cam_to_world"].double(), torch.as_tensor(scene.cam_to_world[3]))
    cfg = load_config(None, ["MODEL.FEATURE_DIM", "4", "MODEL.UNET_CHANNELS", "[8, 16]",
                             "MODEL.PHOTOMETRIC.EXPOSURE", "True", "SOLVER.AMP", "off"])
    model = build_model(cfg, 300, depth_range=(0.5, 10.0), num_cameras=4, train_cameras=[0, 1, 2, 3])
    seen = []
    model.photometric.register_forward_hook(lambda _, inputs, __: seen.append(inputs[1].tolist()))
    clouds = FrameClouds({0: torch.from_numpy(s.points).float()})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    trainer = create_trainer(cfg, model, optimizer, clouds, torch.device("cpu"),
                             torch.amp.GradScaler("cpu", enabled=False))
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    trainer.run([batch], max_epochs=1)
    assert seen == [[3, 1]]  # the correction of the batch's photos, in the batch's order
