"""Native NPCR layout: round trips and clear errors for malformed files."""
import numpy as np
import pytest

from npcr.data import (load_native_scene, read_cam_poses, read_intrinsics, read_points,
                       write_cam_poses, write_intrinsics, write_native_scene, write_points_txt)
from npcr.data.demo_scene import camera_ring
from npcr.data.formats import load_scene_from
from npcr.errors import DataFormatError


def test_campose_round_trip_and_column_order(tmp_path):
    poses = camera_ring(5, 3.0)
    write_cam_poses(tmp_path / "CamPose.inf", poses)
    assert np.allclose(read_cam_poses(tmp_path / "CamPose.inf"), poses, atol=1e-7)
    first = [float(x) for x in (tmp_path / "CamPose.inf").read_text().split("\n")[0].split()]
    assert np.allclose(first[0:3], poses[0][:3, 2]) and np.allclose(first[3:6], poses[0][:3, 0])
    assert np.allclose(first[6:9], poses[0][:3, 1]) and np.allclose(first[9:12], poses[0][:3, 3])


def test_intrinsics_round_trip(tmp_path):
    K = np.array([[[100.0, 0, 31.5], [0, 101, 30], [0, 0, 1]], [[50, 0, 10], [0, 50, 12], [0, 0, 1]]])
    write_intrinsics(tmp_path / "Intrinsic.inf", K)
    assert np.allclose(read_intrinsics(tmp_path / "Intrinsic.inf"), K)


def test_points_round_trip_with_colours(tmp_path):
    xyz = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    rgb = np.random.default_rng(1).uniform(size=(50, 3)).astype(np.float32)
    write_points_txt(tmp_path / "p.txt", xyz, rgb)
    xyz2, rgb2 = read_points(tmp_path / "p.txt")
    assert np.allclose(xyz2, xyz, atol=1e-6) and np.allclose(rgb2, rgb, atol=1 / 255)


def _scene(tmp_path, cameras=3, size=8):
    imgs = [np.full((size, size, 3), 40 * i, np.uint8) for i in range(cameras)]
    alphas = [np.full((size, size), 255, np.uint8) for _ in range(cameras)]
    K = np.repeat(np.array([[[10.0, 0, 3.5], [0, 10, 3.5], [0, 0, 1]]]), cameras, axis=0)
    write_native_scene(tmp_path / "scene", camera_ring(cameras, 3.0), K, imgs, alphas,
                       np.zeros((4, 3), np.float32))
    return tmp_path / "scene"


def test_scene_round_trip_and_single_intrinsic_block(tmp_path):
    root = _scene(tmp_path)
    scene = load_native_scene(root)
    assert scene.num_cameras == 3 and scene.frames == [0]
    write_intrinsics(root / "Intrinsic.inf", scene.K[:1])
    assert load_native_scene(root).K.shape == (3, 3, 3)
    assert not list(tmp_path.glob(".scene*")), "temporary folder left behind"


POSE = "0 0 1 1 0 0 0 1 0 0 0 -3"


@pytest.mark.parametrize("text,line,message", [
    (f"{POSE}\n0 0 1 1 0 0 0 1 0 0 0\n", 2, "expected 12 numbers"),
    (f"{POSE}\n\n0 0 1 1 0 0 0 1 0 0 0 abc\n", 3, "not a number"),
    (f"{POSE}\n0 0 1 1 0 0 0 1 0 0 0 nan\n", 2, "non-finite"),
    ("0 0 2 1 0 0 0 1 0 0 0 -3\n", 1, "not orthonormal"),
])
def test_bad_campose_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "CamPose.inf"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as err:
        read_cam_poses(path)
    assert f"CamPose.inf:{line}:" in str(err.value)


def test_mirrored_camera_is_warned_not_refused(tmp_path, caplog):
    path = tmp_path / "CamPose.inf"
    path.write_text("0 0 1 -1 0 0 0 1 0 0 0 -3\n")
    assert read_cam_poses(path).shape == (1, 4, 4)
    assert "mirrored" in caplog.text


@pytest.mark.parametrize("text,message", [
    ("0\n10 0 4\n0 10 4\n", "truncated"),
    ("1\n10 0 4\n0 10 4\n0 0 1\n", "expected camera index 0"),
    ("0\n10 0 4\n0 10 4 5\n0 0 1\n", "expected 3 numbers"),
    ("0\n-10 0 4\n0 10 4\n0 0 1\n", "pinhole"),
])
def test_bad_intrinsics(tmp_path, text, message):
    path = tmp_path / "Intrinsic.inf"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_intrinsics(path)


@pytest.mark.parametrize("text,line", [("1 2 3\n4 5\n", 2), ("1 2 3\n4 5 nan\n", 2),
                                       ("1 2 3\n1 2 x\n", 2)])
def test_bad_points_name_the_line(tmp_path, text, line):
    path = tmp_path / "frame1.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=f"frame1.txt:{line}:"):
        read_points(path)


def test_camera_count_mismatch_and_missing_image(tmp_path):
    root = _scene(tmp_path)
    K = read_intrinsics(root / "Intrinsic.inf")
    write_intrinsics(root / "Intrinsic.inf", K[:2])
    with pytest.raises(DataFormatError, match="2 intrinsic blocks for 3 cameras"):
        load_native_scene(root)
    write_intrinsics(root / "Intrinsic.inf", K)
    (root / "img" / "0" / "img_0001_alpha.png").unlink()
    with pytest.raises(DataFormatError, match="1 of 3 photos have missing files: .*img_0001_alpha.png"):
        load_scene_from(root)


@pytest.mark.parametrize("ext", [".ply", ".pcd", ".xyz", ".xyzrgb", ".pts", ".obj"])
def test_point_formats_through_open3d(tmp_path, ext):
    import open3d as o3d

    xyz = np.random.default_rng(0).normal(size=(40, 3))
    path = tmp_path / f"cloud{ext}"
    if ext == ".obj":
        path.write_text("# a mesh\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in xyz) + "f 1 2 3\n")
    elif ext == ".xyzrgb":
        path.write_text("".join(f"{x} {y} {z} 0.5 0.5 0.5\n" for x, y, z in xyz))
    else:
        o3d.io.write_point_cloud(str(path), o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz)))
    got, _ = read_points(path)
    assert got.shape == (40, 3) and np.allclose(got, xyz, atol=1e-4)


@pytest.mark.parametrize("name,text", [("empty.txt", ""), ("empty.ply", "ply\nformat ascii 1.0\n"
                                       "element vertex 0\nproperty float x\nproperty float y\n"
                                       "property float z\nend_header\n")])
def test_empty_cloud_is_refused(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataFormatError, match="empty"):
        read_points(tmp_path / name)
