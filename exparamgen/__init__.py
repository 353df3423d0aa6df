"""exparamgen: camera paths (surround / turntable) generated from one camera."""
from .surround import surround_path

__all__ = ["surround_path"]
