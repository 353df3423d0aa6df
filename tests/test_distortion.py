"""Lens distortion: photos through a known lens come back as the pinhole photo, and agree with an
independent OpenCV undistortion with the same K."""
import json

import cv2
import numpy as np
import pytest
import torch

from npcr.data import CameraImageDataset
from npcr.data.distortion import Distortion, undistort, undistortion_maps
from npcr.data.formats import load_scene_from
from npcr.errors import DataFormatError

H, W = 90, 120
K = np.array([[100.0, 0, 61.0], [0, 102.0, 44.0], [0, 0, 1]])
# pincushion-like lenses: the pinhole photo's corners lie beyond the photo taken, so they have
# no source and must come out invalid
LENSES = {"opencv": Distortion((0.25, 0.05, 0.002, -0.001, 0.01)),
          "fisheye": Distortion((0.6, 0.1, 0.01, -0.002), fisheye=True)}


def pinhole_photo() -> np.ndarray:
    """A smooth RGB pattern with edges, as a pinhole camera sees it."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / 7), 128 + 100 * np.cos(y / 9),
                    128 + 60 * np.sin((x + y) / 11)], -1)
    img[30:50, 40:80] = (250, 20, 20)
    return img.round().astype(np.uint8)


def through_lens(img: np.ndarray, dist: Distortion) -> np.ndarray:
    """The photo the lens makes: each distorted pixel samples the pinhole image where its ray goes
    (OpenCV's undistortPoints gives the ray)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    pix = np.stack([x.ravel(), y.ravel()], -1)[:, None]
    D = np.asarray(dist.coeffs)
    rays = (cv2.fisheye.undistortPoints(pix, K, D) if dist.fisheye
            else cv2.undistortPoints(pix, K, D))[:, 0]
    mx = (K[0, 0] * rays[:, 0] + K[0, 2]).reshape(H, W).astype(np.float32)
    my = (K[1, 1] * rays[:, 1] + K[1, 2]).reshape(H, W).astype(np.float32)
    return cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("lens", list(LENSES))
def test_undistortion_restores_the_pinhole_photo_and_matches_opencv(lens):
    dist, truth = LENSES[lens], pinhole_photo()
    photo = through_lens(truth, dist)
    maps = undistortion_maps(K, dist, H, W)
    ours, valid = undistort(photo, maps), maps[2]
    assert 0.5 < valid.mean() < 1.0  # the corners have no source (no crop, same K)
    D = np.asarray(dist.coeffs)
    opencv = (cv2.fisheye.undistortImage(photo, K, D, Knew=K) if dist.fisheye
              else cv2.undistort(photo, K, D, None, K))
    inner = valid.copy()
    inner[[0, -1], :] = inner[:, [0, -1]] = False
    diff = np.abs(ours.astype(int) - opencv.astype(int))[inner]
    # OpenCV's own resampling keeps 5 bits of sub-pixel position: a level or two at sharp edges
    assert diff.mean() < 0.1 and np.percentile(diff, 99.5) <= 1 and diff.max() <= 8
    interior = cv2.erode(valid.astype(np.uint8), np.ones((5, 5))) > 0
    err = np.abs(ours.astype(float) - truth.astype(float))[interior]
    assert err.mean() < 2.5 and np.percentile(err, 99) < 25  # resampled twice, edges aside
    assert (ours[~valid] == 0).all()


def write_capture(root, lens: str, camera_model: str):
    (root / "images").mkdir(parents=True)
    frames = []
    for i in range(3):
        cv2.imwrite(str(root / "images" / f"{i}.png"),
                    through_lens(pinhole_photo(), LENSES[lens])[..., ::-1])
        m = np.eye(4)
        m[0, 3] = 0.1 * i
        frames.append({"file_path": f"images/{i}.png", "transform_matrix": m.tolist()})
    names = ("k1", "k2", "k3", "k4") if lens == "fisheye" else ("k1", "k2", "p1", "p2", "k3")
    meta = {"camera_model": camera_model, "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2] + 0.5,
            "cy": K[1, 2] + 0.5, "w": W, "h": H, "frames": frames,
            **dict(zip(names, LENSES[lens].coeffs))}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


@pytest.mark.parametrize("lens,model", [("opencv", "OPENCV"), ("fisheye", "OPENCV_FISHEYE")])
def test_transforms_capture_trains_on_undistorted_photos(tmp_path, lens, model):
    scene = load_scene_from(write_capture(tmp_path, lens, model))
    item = CameraImageDataset(scene, [1])[0]
    maps = undistortion_maps(scene.K[1], LENSES[lens], H, W)
    photo = cv2.imread(str(tmp_path / "images" / "1.png"))[..., ::-1]
    expected = undistort(np.ascontiguousarray(photo), maps)
    assert torch.equal(item["image"], torch.from_numpy(expected).permute(2, 0, 1).float() / 255)
    assert torch.equal(item["valid"][0], torch.from_numpy(maps[2]).float())
    # resized for training, the mask stays conservative: no pixel that mixes in an invalid one
    small = CameraImageDataset(scene, [1], size=(45, 60))[0]["valid"][0]
    assert small.mean() < item["valid"].mean() and set(small.unique().tolist()) <= {0.0, 1.0}


def test_unknown_camera_model_and_stray_coefficients_are_refused(tmp_path):
    root = write_capture(tmp_path / "a", "opencv", "EQUIRECTANGULAR")
    with pytest.raises(DataFormatError, match="camera_model 'EQUIRECTANGULAR' is not supported"):
        load_scene_from(root)
    meta = json.loads((root / "transforms.json").read_text())
    meta.update(camera_model="OPENCV_FISHEYE", p1=0.01)
    (root / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="OPENCV_FISHEYE has no coefficient p1"):
        load_scene_from(root)


def test_masked_pixels_stay_out_of_the_loss():
    from npcr.config import load_config
    from npcr.engine.losses import ImageLoss

    loss = ImageLoss(load_config(None, ["SOLVER.SSIM_WEIGHT", "0.5"]))
    pred = {"rgb": torch.full((1, 3, 16, 16), 0.5, requires_grad=True),
            "alpha": torch.full((1, 1, 16, 16), 0.5)}
    valid = torch.ones(1, 1, 16, 16)
    valid[..., :4, :] = 0
    batch = {"image": torch.full((1, 3, 16, 16), 0.5), "alpha": torch.full((1, 1, 16, 16), 0.5),
             "valid": valid}
    batch["image"][..., :4, :] = 1.0  # only invalid pixels differ
    assert float(loss(pred, batch)["loss"].detach()) == pytest.approx(0.0, abs=1e-6)
    batch["image"][..., 8, 8] = 1.0  # a valid pixel differs: L1 is its mean over valid pixels
    assert float(loss(pred, batch)["rgb_l1"].detach()) == pytest.approx(0.5 / (3 * 12 * 16) * 3, rel=1e-5)
