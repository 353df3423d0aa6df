"""Scene formats: transforms.json and COLMAP (text and binary) read, convert and round-trip."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from npcr.data import CameraImageDataset, write_native_scene
from npcr.data.demo_scene import camera_ring
from npcr.data.formats import detect_format, load_scene_from, write_scene
from npcr.errors import DataFormatError


@pytest.fixture
def native(tmp_path):
    """A 3-camera native scene with distinct images, graded alphas and coloured points."""
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    alphas = [rng.integers(0, 255, (12, 16), dtype=np.uint8) for _ in range(3)]
    K = np.array([[[20.0 + i, 0, 7.5], [0, 21.0, 5.5], [0, 0, 1]] for i in range(3)])
    pts = rng.normal(size=(30, 3)).astype(np.float32)
    cols = rng.uniform(size=(30, 3)).astype(np.float32)
    root = tmp_path / "native"
    write_native_scene(root, camera_ring(3, 3.0), K, imgs, alphas, pts, cols)
    return root, imgs, alphas, K, pts


def _same_scene(a, b, atol=1e-6):
    assert np.allclose(a.cam_to_world, b.cam_to_world, atol=atol)
    assert np.allclose(a.K, b.K, atol=atol)
    assert np.allclose(a.points(0)[0], b.points(0)[0], atol=1e-5)


@pytest.mark.e2e
def test_native_transforms_native_round_trip(native, tmp_path):
    root, imgs, alphas, K, pts = native
    scene = load_scene_from(root)
    write_scene(scene, tmp_path / "tf", "transforms")
    assert detect_format(tmp_path / "tf") == "transforms"
    tf = load_scene_from(tmp_path / "tf")
    _same_scene(scene, tf)
    rgba = cv2.imread(str(tf.image_path(0, 1)), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(rgba[..., 3], alphas[1])  # the matte travels as the alpha channel
    meta = json.loads((tmp_path / "tf" / "transforms.json").read_text())
    assert meta["frames"][0]["cx"] == pytest.approx(8.0)  # half-integer pixel centres there
    # OpenGL axes: the camera looks down -z, so z points away from the object at the origin
    gl = np.array(meta["frames"][0]["transform_matrix"])
    assert gl[:3, 2] @ (0 - gl[:3, 3]) < 0

    a, b = CameraImageDataset(scene, [2])[0], CameraImageDataset(tf, [2])[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["alpha"], b["alpha"])
    assert torch.allclose(a["K"], b["K"]) and torch.allclose(a["cam_to_world"], b["cam_to_world"])

    proc = subprocess.run([sys.executable, "tools/convert_dataset.py", "--to", "native",
                           str(tmp_path / "tf"), str(tmp_path / "back")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    back = load_scene_from(tmp_path / "back")
    _same_scene(scene, back, atol=1e-5)
    for cam in range(3):
        assert np.array_equal(cv2.imread(str(back.alpha_path(0, cam)), 0), alphas[cam])
        assert np.array_equal(cv2.imread(str(back.image_path(0, cam)))[..., ::-1], imgs[cam])


def test_nerf_synthetic_style_transforms(tmp_path):
    """camera_angle_x only, file paths without extension, RGBA images."""
    img = np.zeros((8, 10, 4), np.uint8)
    img[2:5, 3:6] = 255
    (tmp_path / "train").mkdir()
    cv2.imwrite(str(tmp_path / "train" / "r_0.png"), img)
    c2w = np.eye(4)
    c2w[2, 3] = 4.0
    meta = {"camera_angle_x": 0.5, "frames": [{"file_path": "./train/r_0",
                                                "transform_matrix": c2w.tolist()}]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    scene = load_scene_from(tmp_path / "transforms.json")
    fx = 0.5 * 10 / np.tan(0.25)
    assert np.allclose(scene.K[0], [[fx, 0, 4.5], [0, fx, 3.5], [0, 0, 1]])
    # OpenCV's x right, y down, z forward from OpenGL's x right, y up, z backward
    assert np.allclose(scene.cam_to_world[0][:3, :3], np.diag([1, -1, -1]))
    # so a point above the axis (world +y, OpenGL's up) lands above the image centre
    import pcpr_ext

    _, index = pcpr_ext.project(torch.tensor([[0.0, 0.5, 0.0]]), torch.tensor(scene.K[:1]).float(),
                                torch.tensor(scene.cam_to_world[:1]).float(), 8, 10, near=0.1,
                                far=10.0)
    rows, cols = torch.nonzero(index[0, 0] == 0, as_tuple=True)
    assert rows.tolist() == [1] and cols.tolist() == [5]  # (4.5, 3.5 - 19.6 * 0.5 / 4 = 1.05)
    assert scene.alpha_path(0, 0) is None


@pytest.mark.parametrize("frames,message", [
    ([{"file_path": "a.png"}], "needs file_path and transform_matrix"),
    ([{"file_path": "a.png", "transform_matrix": [[1, 0], [0, 1]]}], "4x4"),
    ([{"file_path": "a.png", "transform_matrix": (2 * np.eye(4)).tolist()}], "orthonormal"),
    ([{"file_path": "missing.png", "transform_matrix": np.eye(4).tolist(), "w": 4, "h": 4}],
     "1 of 1 photos have missing files: .*missing.png"),
])
def test_bad_transforms(tmp_path, frames, message):
    (tmp_path / "transforms.json").write_text(json.dumps({"fl_x": 10, "frames": frames}))
    with pytest.raises(DataFormatError, match=message):
        load_scene_from(tmp_path)


def test_truncated_json_names_the_line(tmp_path):
    (tmp_path / "transforms.json").write_text('{\n "frames": [\n')
    with pytest.raises(DataFormatError, match=r"transforms.json:3: invalid JSON"):
        load_scene_from(tmp_path)


def _colmap_text(root, model="PINHOLE", params="20 21 8 6"):
    sparse = root / "sparse" / "0"
    sparse.mkdir(parents=True)
    (root / "images").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(root / "images" / name), np.full((12, 16, 3), 90, np.uint8))
    (sparse / "cameras.txt").write_text(f"# cams\n1 {model} 16 12 {params}\n")
    # image a: identity pose; image b: turned 90 degrees about y. Quaternions are w x y z.
    (sparse / "images.txt").write_text("1 1 0 0 0 0 0 3 1 a.png\n\n"
                                       "2 0.70710678 0 0.70710678 0 0 0 3 1 b.png\n\n")
    (sparse / "points3D.txt").write_text("1 0.1 0.2 0.3 255 0 0 0.5\n2 0 0 0 10 20 30 0.5\n")
    return sparse


@pytest.mark.parametrize("binary", [False, True])
def test_colmap_text_and_binary(tmp_path, binary):
    import pycolmap

    sparse = _colmap_text(tmp_path)
    if binary:
        rec = pycolmap.Reconstruction(str(sparse))
        for f in sparse.iterdir():
            f.unlink()
        rec.write_binary(str(sparse))
        assert (sparse / "cameras.bin").is_file()
    assert detect_format(tmp_path) == "colmap"
    scene = load_scene_from(tmp_path)
    assert scene.num_cameras == 2
    assert np.allclose(scene.K[0], [[20, 0, 7.5], [0, 21, 5.5], [0, 0, 1]])
    # world-to-camera translation (0, 0, 3) with R = I: the camera centre is at z = -3
    assert np.allclose(scene.cam_to_world[0][:3, 3], [0, 0, -3])
    xyz, colors = scene.points(0)
    assert np.allclose(sorted(map(tuple, xyz)), [(0, 0, 0), (0.1, 0.2, 0.3)], atol=1e-6)
    assert colors.max() == pytest.approx(1.0)
    write_scene(scene, tmp_path / "native", "native")
    assert load_scene_from(tmp_path / "native").num_cameras == 2


@pytest.mark.parametrize("model,params,coeffs,fisheye", [
    ("SIMPLE_RADIAL", "20 8 6 0.1", (0.1, 0, 0, 0), False),
    ("RADIAL", "20 8 6 0.1 -0.02", (0.1, -0.02, 0, 0), False),
    ("OPENCV", "20 21 8 6 0.1 -0.02 0.001 0.002", (0.1, -0.02, 0.001, 0.002), False),
    ("OPENCV_FISHEYE", "20 21 8 6 0.1 -0.02 0.003 0.001", (0.1, -0.02, 0.003, 0.001), True),
])
def test_colmap_distorted_cameras_are_undistorted_on_reading(tmp_path, model, params, coeffs,
                                                              fisheye):
    _colmap_text(tmp_path, model, params)
    scene = load_scene_from(tmp_path)
    dist = scene.distortion[0]
    assert dist.fisheye == fisheye and np.allclose(dist.coeffs, coeffs)
    rgb, alpha, valid = scene.read(0, 0)
    assert rgb.shape == (12, 16, 3) and valid.shape == (12, 16) and valid.any()


def test_colmap_unsupported_camera_model_is_refused(tmp_path):
    _colmap_text(tmp_path, "FOV", "20 21 8 6 0.5")
    with pytest.raises(DataFormatError, match="camera model FOV is not supported"):
        load_scene_from(tmp_path)


def test_colmap_undistorted_opencv_is_taken(tmp_path):
    _colmap_text(tmp_path, "OPENCV", "20 21 8 6 0 0 0 0")
    assert load_scene_from(tmp_path).num_cameras == 2


@pytest.mark.parametrize("params,message", [
    ("0 21 8 6", r"camera 1: focal length fx 0, fy 21: must be finite and > 0"),
    ("20 -21 8 6", r"camera 1: focal length fx 20, fy -21: must be finite and > 0"),
    ("20 21 80 6", r"camera 1: principal point \(80, 6\) lies far outside its 16x12 image"),
])
def test_colmap_degenerate_intrinsics_are_refused(tmp_path, params, message):
    """A COLMAP camera of focal 0 used to train (on nothing): every reader refuses it."""
    _colmap_text(tmp_path, "PINHOLE", params)
    with pytest.raises(DataFormatError, match=r"sparse/0: " + message):
        load_scene_from(tmp_path)


@pytest.mark.parametrize("key,value,message", [
    ("fl_x", 0, r"frames\[0\]: focal length fx 0"),
    ("cx", 400, r"frames\[0\]: principal point \(400, 6\) lies far outside its 16x12 image"),
])
def test_transforms_degenerate_intrinsics_are_refused(tmp_path, key, value, message):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((12, 16, 3), 90, np.uint8))
    frame = {"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}
    meta = {"fl_x": 20, "cx": 8, "cy": 6, "w": 16, "h": 12, "frames": [frame], key: value}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match=message):
        load_scene_from(tmp_path)


def test_every_scene_refuses_a_degenerate_camera(tmp_path):
    from npcr.data.scene import Scene

    K = np.array([[[20, 0, 8], [0, 20, 6], [0, 0, 1]], [[np.nan, 0, 8], [0, 20, 6], [0, 0, 1]]])
    with pytest.raises(DataFormatError, match=r"camera 1: focal length fx nan"):
        Scene(tmp_path, np.stack([np.eye(4)] * 2), K, [0], {})


def test_unknown_format(tmp_path):
    with pytest.raises(DataFormatError, match="unknown dataset format"):
        detect_format(tmp_path)


def _video_capture(root, cams=2, frames=(0, 1)):
    from npcr.data import write_points_txt

    poses = camera_ring(cams, 3.0)
    for cam in range(cams):
        (root / "pose").mkdir(parents=True, exist_ok=True)
        (root / "intrinsic").mkdir(exist_ok=True)
        np.savetxt(root / "pose" / f"{cam:04d}.txt", poses[cam][:3])  # 3x4 form
        np.savetxt(root / "intrinsic" / f"{cam:04d}.txt", [[20, 0, 7.5], [0, 20, 5.5], [0, 0, 1]])
    for f in frames:
        (root / "rgb" / str(f)).mkdir(parents=True)
        (root / "mask" / str(f)).mkdir(parents=True)
        for cam in range(cams):
            cv2.imwrite(str(root / "rgb" / str(f) / f"{cam:04d}.png"), np.full((12, 16, 3), 10 * f,
                                                                            np.uint8))
            cv2.imwrite(str(root / "mask" / str(f) / f"{cam:04d}.png"), np.full((12, 16), 200,
                                                                             np.uint8))
        write_points_txt(root / "pointcloud" / f"{f}.txt", np.full((5, 3), f, np.float32))
    return poses


def test_video_capture_to_multi_frame_native(tmp_path):
    poses = _video_capture(tmp_path / "cap")
    assert detect_format(tmp_path / "cap") == "video"
    scene = load_scene_from(tmp_path / "cap")
    assert scene.frames == [0, 1] and np.allclose(scene.cam_to_world, poses)
    write_scene(scene, tmp_path / "native", "native")
    back = load_scene_from(tmp_path / "native")
    assert back.frames == [0, 1]
    assert np.allclose(back.points(1)[0], 1.0) and np.allclose(back.points(0)[0], 0.0)
    assert cv2.imread(str(back.image_path(1, 1)))[0, 0, 0] == 10
    assert cv2.imread(str(back.alpha_path(1, 0)), 0)[0, 0] == 200


@pytest.mark.parametrize("damage,message", [
    (lambda r: (r / "pose" / "0001.txt").write_text("1 0 0 0\n0 1 0 x\n0 0 1 0\n"),
     r"0001.txt:2: not a number"),
    (lambda r: (r / "intrinsic" / "0000.txt").write_text("20 0 7.5\n0 20 5.5\n"),
     "expected a 3x3 matrix"),
    (lambda r: (r / "rgb" / "1" / "0001.png").unlink(), r"rgb/1/0001.png: image missing"),
    (lambda r: (r / "pointcloud" / "1.txt").unlink(), "point cloud missing"),
    (lambda r: (r / "intrinsic" / "0001.txt").unlink(), "numbered 0..M-1"),
])
def test_bad_video_capture(tmp_path, damage, message):
    _video_capture(tmp_path)
    damage(tmp_path)
    with pytest.raises(DataFormatError, match=message):
        load_scene_from(tmp_path)


def test_native_spiral_path_is_read_and_kept(native, tmp_path):
    from npcr.data import write_cam_poses, write_intrinsics

    root, *_ = native
    path = camera_ring(5, 2.5)
    write_cam_poses(root / "CamPose_spiral.inf", path)
    write_intrinsics(root / "Intrinsic_spiral.inf",
                     np.array([[[30.0, 0, 7.5], [0, 30, 5.5], [0, 0, 1]]]))
    scene = load_scene_from(root)
    assert np.allclose(scene.render_path[0], path) and scene.render_path[1].shape == (5, 3, 3)
    write_scene(scene, tmp_path / "copy", "native")
    assert np.allclose(load_scene_from(tmp_path / "copy").render_path[0], path)
    (root / "Intrinsic_spiral.inf").unlink()
    with pytest.raises(DataFormatError, match="Intrinsic_spiral.inf: file not found"):
        load_scene_from(root)


@pytest.mark.parametrize("fmt", ["native", "transforms"])
def test_writers_refuse_an_empty_cloud(tmp_path, fmt):
    """A scene writer about to write a cloud of no points refuses, and writes nothing."""
    from npcr.data.scene import Scene
    from npcr.errors import NpcrError

    cv2.imwrite(str(tmp_path / "a.png"), np.full((12, 16, 3), 90, np.uint8))
    K = np.array([[[20.0, 0, 8], [0, 20, 6], [0, 0, 1]]])
    scene = Scene(tmp_path, np.eye(4)[None], K, [0], {(0, 0): tmp_path / "a.png"},
                  point_arrays={0: (np.zeros((0, 3), np.float32), None)})
    with pytest.raises(NpcrError, match="empty"):
        write_scene(scene, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()
