#!/usr/bin/env python3
"""Turn a real capture into a training-ready native scene.

tools/process_capture.py IN OUT [--max-size 1000] [--matcher exhaustive|sequential]
                                [--points given|sparse|dense] [--skip-missing] [--fps 2]

IN is a folder of photos without poses (structure from motion with pycolmap finds them), a video
file (.mp4, .mov, ...: frames at --fps, the sharpest of each interval, blurry ones dropped), or a
posed scene (transforms.json, a COLMAP model, a native scene) whose poses are kept. OUT gets
pinhole photos of one size and orientation (lens distortion undistorted with the same K; pixels
without a source marked in img_%04d_valid.png), CamPose.inf, Intrinsic.inf, the points and
capture.json (counts and seconds per stage). Points: a native or transforms.json input's own cloud
when it has one; otherwise dense points from the photos (plane-sweep stereo), whose depth ranges
come from the SfM, COLMAP or triangulated points ("sparse" keeps those instead).
"""
from npcr.commands.process_capture import cli

if __name__ == "__main__":
    cli()
