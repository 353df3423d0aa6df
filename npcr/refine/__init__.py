"""Temporal refinement: earlier frames reprojected into the current view (``warp``)."""
from .warp import project, unproject, warp_previous, warping_error

__all__ = ["project", "unproject", "warp_previous", "warping_error"]
