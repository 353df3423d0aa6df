"""exparamgen: camera paths (surround, orbit, spiral, keyframes) around an object; the paths
themselves live in npcr.camera_paths, exgen.py writes them as CamPose.inf / Intrinsic.inf."""
from npcr.camera_paths import keyframe_path, orbit_path, spiral_path, surround_path

__all__ = ["keyframe_path", "orbit_path", "spiral_path", "surround_path"]
