"""exparamgen: camera paths (surround, orbit, spiral, keyframes) around an object."""
from npcr.camera_paths import keyframe_path, orbit_path, spiral_path
from .surround import surround_path

__all__ = ["keyframe_path", "orbit_path", "spiral_path", "surround_path"]
