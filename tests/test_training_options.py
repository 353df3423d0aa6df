"""Training options: layer schedule, staged training, losses, learning-rate schedule."""
import cv2
import numpy as np
import pytest
import torch

from npcr.geometry import Cameras
from helpers import camera, intrinsics
from npcr.config import load_config
from npcr.engine.losses import ImageLoss
from npcr.engine.optim import build_lr_scheduler, build_optimizer, layers_at_epoch, maybe_compile
from npcr.errors import NpcrError
from npcr.modeling import build_model


def cfg_with(*opts):
    return load_config(None, ["MODEL.NUM_LAYERS", "4", "MODEL.FEATURE_DIM", "3",
                              "MODEL.UNET_CHANNELS", "[8, 16]", *map(str, opts)])


def test_layer_schedule():
    cfg = cfg_with("SOLVER.LAYER_SCHEDULE", "[[0, 1], [20, 2], [40, 4]]")
    assert [layers_at_epoch(cfg, e) for e in (0, 19, 20, 39, 40, 99)] == [1, 1, 2, 2, 4, 4]
    assert layers_at_epoch(cfg_with(), 5) == 4
    for bad in ("[[1, 1]]", "[[0, 1], [5, 9]]", "[[0, 2], [0, 3]]", "[[0, 2], [9, 3], [4, 4]]"):
        with pytest.raises(NpcrError, match="LAYER_SCHEDULE"):
            layers_at_epoch(cfg_with("SOLVER.LAYER_SCHEDULE", bad), 0)


def test_inactive_layers_are_empty():
    model = build_model(cfg_with(), 300, depth_range=(0.5, 10.0))
    pts = torch.randn(300, 3) * 0.3
    K, c2w = intrinsics(f=12.0, cx=7.5, cy=7.5)[None], camera((0, 0, -3.0))[None]
    full_d, full_i = model.depth_layers(pts, Cameras(K, c2w, 16, 16))
    model.active_layers = 2
    d, i = model.depth_layers(pts, Cameras(K, c2w, 16, 16))
    assert i.shape == full_i.shape == (1, 4, 16, 16)
    assert torch.equal(i[:, :2], full_i[:, :2]) and (i[:, 2:] == -1).all() and (d[:, 2:] == 0).all()
    assert (full_i[:, 2:] >= 0).any()


def _step(cfg, model):
    opt = build_optimizer(cfg, model)
    out = model.render_cloud(torch.randn(300, 3) * 0.3, Cameras(
        intrinsics(f=12.0, cx=7.5, cy=7.5)[None], camera((0, 0, -3.0))[None], 16, 16))
    (out["rgb"].mean() + out["alpha"].mean()).backward()
    opt.step()


@pytest.mark.parametrize("stage,features_move,network_moves", [
    ("joint", True, True), ("features", True, False), ("network", False, True)])
def test_staged_training_freezes_the_rest(stage, features_move, network_moves):
    torch.manual_seed(0)
    cfg = cfg_with("SOLVER.TRAIN", stage)
    model = build_model(cfg, 300, depth_range=(0.5, 10.0))
    feats, net = model.features.detach().clone(), model.unet.head.weight.detach().clone()
    _step(cfg, model)
    assert (not torch.equal(model.features, feats)) == features_move
    assert (not torch.equal(model.unet.head.weight, net)) == network_moves


def test_ssim_term_enters_the_loss():
    torch.manual_seed(0)
    pred = {"rgb": torch.rand(2, 3, 24, 24, requires_grad=True), "alpha": torch.rand(2, 1, 24, 24)}
    batch = {"image": torch.rand(2, 3, 24, 24), "alpha": torch.rand(2, 1, 24, 24)}
    plain = ImageLoss(cfg_with())(pred, batch)
    with_ssim = ImageLoss(cfg_with("SOLVER.SSIM_WEIGHT", "0.5"))(pred, batch)
    assert "ssim" not in plain and 0 <= float(with_ssim["ssim"].detach()) <= 1
    assert torch.isclose(with_ssim["loss"], plain["loss"] + 0.5 * (1 - with_ssim["ssim"]))
    with_ssim["loss"].backward()
    assert pred["rgb"].grad.abs().sum() > 0


def test_selection_cameras_are_held_out_apart_from_the_reported_ones():
    from npcr.data import split_cameras
    from npcr.errors import DataFormatError
    assert split_cameras(6, [1, 4], [2]) == ([0, 3, 5], [1, 4], [2])
    assert split_cameras(3, [1]) == ([0, 2], [1], [])
    with pytest.raises(DataFormatError, match="SELECT_CAMERAS.*also in"):
        split_cameras(6, [1, 4], [4])
    with pytest.raises(DataFormatError, match="SELECT_CAMERAS.*outside 0..5"):
        split_cameras(6, [1], [6])


def test_training_rendering_and_evaluation_measure_the_same_cameras(tmp_path):
    """One default: the held-out cameras, or the first training camera where none is held out
    (what the trainer measures), for render.py and evaluate.py as for training."""
    from npcr.data import measured_cameras
    from npcr.engine.render import camera_path

    assert measured_cameras(6, [4, 1], [2]) == [1, 4]
    assert measured_cameras(6, [], [0]) == [1] and measured_cameras(3, []) == [0]

    class Data:  # what camera_path reads of a trained model: its config and scene
        scene = type("Scene", (), {"num_cameras": 5, "K": np.tile(np.eye(3), (5, 1, 1)),
                                   "cam_to_world": np.tile(np.eye(4), (5, 1, 1)),
                                   "image_path": lambda self, f, c: tmp_path / "img.png"})()
    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((8, 8, 3), np.uint8))
    trained = type("Trained", (), {"cfg": cfg_with("DATASETS.SELECT_CAMERAS", "[0]"),
                                   "data": Data()})()
    assert len(camera_path(trained, 0).cam_to_world) == 1  # camera 1, not all five


def test_cosine_schedule_runs_from_base_to_min_factor():
    cfg = cfg_with("SOLVER.LR_SCHEDULER", "cosine", "SOLVER.LR_MIN_FACTOR", "0.1")
    model = build_model(cfg, 10, depth_range=(0.5, 10.0))
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt, total_iterations=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[1]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(cfg.SOLVER.BASE_LR) and lrs == sorted(lrs, reverse=True)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1 * cfg.SOLVER.BASE_LR)
    assert build_lr_scheduler(cfg_with(), opt, 10) is None


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_train_step_with_and_without_bfloat16_autocast(amp):
    from npcr.engine.trainer import create_trainer
    from npcr.modeling import FrameClouds

    torch.manual_seed(0)
    cfg = cfg_with("SOLVER.AMP", amp, "SOLVER.SSIM_WEIGHT", "0.1")
    cpu = torch.device("cpu")
    clouds = FrameClouds({0: torch.randn(300, 3) * 0.3})
    model = build_model(cfg, 300, depth_range=(0.5, 10.0))
    opt = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = {"image": torch.rand(1, 3, 16, 16), "alpha": torch.rand(1, 1, 16, 16),
             "K": intrinsics(f=12.0, cx=7.5, cy=7.5)[None], "cam_to_world": camera((0, 0, -3.0))[None],
             "frame": torch.tensor([0])}
    before = model.unet.head.weight.detach().clone()
    seen = []
    model.unet.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = create_trainer(cfg, model, opt, clouds, cpu, scaler).run([batch], max_epochs=2).output
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert not torch.equal(model.unet.head.weight, before)
    # the convolutions ran in the precision asked for
    assert set(seen) == {torch.bfloat16 if amp == "bf16" else torch.float32}


def test_fp16_refused_on_cpu():
    from npcr.engine.trainer import amp_dtype

    assert amp_dtype(cfg_with(), torch.device("cpu")) is None
    with pytest.raises(NpcrError, match="bf16 on the CPU"):
        amp_dtype(cfg_with("SOLVER.AMP", "fp16"), torch.device("cpu"))


def _torchvision_like_vgg16(path, scale=0.05):
    """A file laid out as torchvision's vgg16 state dict (random weights, classifier included)."""
    g = torch.Generator().manual_seed(0)
    convs = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256),
             (12, 256, 256), (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512),
             (24, 512, 512), (26, 512, 512), (28, 512, 512)]
    state = {}
    for i, cin, cout in convs:
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * scale
        state[f"features.{i}.bias"] = torch.zeros(cout)
    state["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    return path


def test_vgg_term_uses_local_weights_only(tmp_path):
    torch.manual_seed(0)
    pred = {"rgb": torch.rand(2, 3, 24, 24, requires_grad=True), "alpha": torch.rand(2, 1, 24, 24)}
    batch = {"image": torch.rand(2, 3, 24, 24), "alpha": torch.rand(2, 1, 24, 24)}
    with pytest.raises(NpcrError, match="local weights only"):
        ImageLoss(cfg_with("SOLVER.VGG_WEIGHT", "0.1", "SOLVER.VGG_WEIGHTS", tmp_path / "none.pth"))
    weights = _torchvision_like_vgg16(tmp_path / "vgg16.pth")
    cfg = cfg_with("SOLVER.VGG_WEIGHT", "0.1", "SOLVER.VGG_WEIGHTS", weights)
    terms = ImageLoss(cfg)(pred, batch)
    plain = ImageLoss(cfg_with())(pred, batch)
    assert float(terms["vgg"].detach()) > 0
    assert torch.isclose(terms["loss"], plain["loss"] + 0.1 * terms["vgg"])
    same = ImageLoss(cfg)({"rgb": batch["image"], "alpha": batch["alpha"]}, batch)
    assert float(same["vgg"]) == 0
    terms["loss"].backward()
    assert pred["rgb"].grad.abs().sum() > 0

    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(NpcrError, match="not a torchvision VGG-16"):
        ImageLoss(cfg_with("SOLVER.VGG_WEIGHT", "0.1", "SOLVER.VGG_WEIGHTS", tmp_path / "other.pth"))


def test_compiled_unet_matches_eager_and_keeps_checkpoint_keys():
    torch.manual_seed(0)
    cfg = cfg_with("SOLVER.COMPILE", "default")
    model = build_model(cfg, 300, depth_range=(0.5, 10.0))
    x = torch.randn(2, 12, 16, 16)
    eager = model.unet(x)
    keys = list(model.state_dict())
    maybe_compile(cfg, model)
    compiled = model.unet(x)
    compiled.sum().backward()
    assert torch.allclose(compiled, eager, atol=1e-5)
    assert list(model.state_dict()) == keys and model.unet.head.weight.grad is not None
    with pytest.raises(NpcrError, match="SOLVER.COMPILE"):
        maybe_compile(cfg_with("SOLVER.COMPILE", "fast"), model)


def test_weight_average_follows_the_warm_up_then_the_momentum():
    """After iteration t the average moves towards the weights by max(m, 10 / (t + 9)): a copy
    after the first, then faster than m while the run is young; a step that sets the weight to
    the iteration number checks the rule, and that the trained model itself is left alone."""
    from ignite.engine import Engine
    from npcr.engine.averaging import attach_weight_average, build_weight_average

    model = torch.nn.Linear(1, 1, bias=False)
    assert build_weight_average(model, 0.0) is None
    average = build_weight_average(model, 0.25)

    def step(engine, _):
        with torch.no_grad():
            model.weight.fill_(float(engine.state.iteration))

    trainer = Engine(step)
    attach_weight_average(trainer, average, 0.25)
    trainer.run([0] * 40, max_epochs=1)
    expected = 0.0  # anything: the first momentum is 1
    for t in range(1, 41):
        m = max(0.25, 10 / (t + 9))  # 0.25 from t = 31 on
        expected = (1 - m) * expected + m * t
    assert average.ema_model.weight.item() == pytest.approx(expected)
    assert model.weight.item() == 40.0
    assert not average.ema_model.weight.requires_grad
    with pytest.raises(NpcrError, match="EMA_MOMENTUM"):
        cfg_with("SOLVER.EMA_MOMENTUM", "1.0")


def test_resuming_with_another_config_names_the_checkpoint(tmp_path):
    """A run saved without the weights' average, resumed with it (its checkpoint lacks the
    trained weights), or with a model of other shapes: one clear error naming the file."""
    import logging
    from ignite.engine import Engine
    from npcr.engine.checkpoints import RENDERER, resume

    model = torch.nn.Linear(2, 2)
    torch.save(model.state_dict(), tmp_path / RENDERER.model(1))
    torch.save({"trainer": Engine(lambda *_: None).state_dict()}, tmp_path / RENDERER.optimizer(1))
    log = logging.getLogger("test")
    with pytest.raises(NpcrError, match=r"nr_optimizer_1\.pth: does not fit this run's config"):
        resume(tmp_path, model, {"trainer": Engine(lambda *_: None),
                                 "trained_model": torch.nn.Linear(2, 2)}, 4, log)
    with pytest.raises(NpcrError, match=r"nr_model_1\.pth: does not fit"):
        resume(tmp_path, torch.nn.Linear(3, 2), {"trainer": Engine(lambda *_: None)}, 4, log)
    resume(tmp_path, model, {"trainer": Engine(lambda *_: None)}, 4, log)  # the same config: fine


def test_every_config_key_has_its_rule_and_its_comment():
    """validate.py checks every key (the one place for choices and ranges) and defaults.py
    explains every key, so that adding a key without either fails here."""
    import re
    from pathlib import Path

    from npcr.config import flat_items, get_cfg_defaults
    from npcr.config.validate import RULES

    unruled = {"RESUME", "DATASETS.ROOT", "MODEL.SHARE_FEATURES", "SOLVER.VGG_WEIGHTS"}  # free
    keys = set(flat_items(get_cfg_defaults()))
    assert keys - set(RULES) == unruled and set(RULES) <= keys
    lines = (Path(__file__).parents[1] / "npcr" / "config" / "defaults.py").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"_C\.\w+(\.\w+)+ = ", line) and "#" not in line:
            above = i - 1  # a comment above it, or above the group of keys it belongs to
            while above > 0 and (lines[above].startswith("_C.") or lines[above].startswith(" ")):
                above -= 1
            assert lines[above].lstrip().startswith("#"), line
