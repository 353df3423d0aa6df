"""Data: scenes in the native NPCR layout and other formats, datasets, the procedural demo scene."""
from .dataset import CameraImageDataset, item_cameras, measured_cameras, split_cameras
from .photo_cache import PhotoCache
from .sampling import ResumableSampler, SeededItems
from .scene import Scene
from .npcr_layout import (intrinsics_per_camera, load_native_scene, read_cam_poses, read_cameras,
                     read_intrinsics, read_points,
                     write_cam_poses, write_intrinsics, write_native_scene, write_native_sequence,
                     write_points_txt)

__all__ = ["CameraImageDataset", "PhotoCache", "item_cameras", "measured_cameras", "split_cameras", "ResumableSampler", "SeededItems", "Scene", "load_native_scene",
           "intrinsics_per_camera", "read_cam_poses", "read_cameras", "read_intrinsics", "read_points", "write_cam_poses",
           "write_intrinsics", "write_native_scene", "write_native_sequence", "write_points_txt"]
