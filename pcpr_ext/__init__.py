"""pcpr_ext: point-cloud projector (depth-peeled z-buffer of splatted points) and feature gathering.

Contract: pcpr_ext/PROJECTION.md. The pure-torch backend is the reference every other backend
must match exactly.
"""
from .features import FeatureLookup, gather_features
from .projection import backends, project

__all__ = ["project", "gather_features", "FeatureLookup", "backends"]
