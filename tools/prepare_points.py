#!/usr/bin/env python3
"""Clean a scene's point clouds and write a training-ready native scene.

tools/prepare_points.py IN OUT [--voxel 0.005] [--outliers 20 2.0] [--min-views 2] [--normalize]
With --normalize the scene (cameras too) is moved and scaled into the unit sphere; the 4x4 transform
(new = T @ old) is saved as OUT/normalization.txt so renders can be taken back.
"""
from npcr.commands.prepare_points import cli

if __name__ == "__main__":
    cli()
