#!/usr/bin/env python3
"""Make a surround camera path (CamPose.inf + Intrinsic.inf) from one camera.

exparamgen/exgen.py --campose one_camera.inf --intrinsics Intrinsic.inf \
    (--pointcloud frame1.txt | --center X Y Z) --frames 120 [--up 0 0 1] [--elevation 10] --out DIR
"""
import argparse
from pathlib import Path

import numpy as np

from exparamgen.surround import surround_path
from npcr.cli import run_cli
from npcr.data import read_cam_poses, read_intrinsics, read_points, write_cam_poses, write_intrinsics
from npcr.errors import NpcrError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campose", required=True, help="CamPose.inf whose first line is the start")
    parser.add_argument("--intrinsics", required=True, help="Intrinsic.inf; its first block is used")
    centre = parser.add_mutually_exclusive_group()
    centre.add_argument("--pointcloud", help="look at this cloud's bounding-box centre")
    centre.add_argument("--center", type=float, nargs=3, metavar=("X", "Y", "Z"))
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--up", type=float, nargs=3, metavar=("X", "Y", "Z"),
                        help="rotation axis (default: the start camera's image up, -y)")
    parser.add_argument("--elevation", type=float, default=0.0,
                        help="elevation swing in degrees (one sine period along the path)")
    parser.add_argument("--out", required=True, help="folder for CamPose.inf and Intrinsic.inf")
    args = parser.parse_args()
    if args.frames < 1:
        parser.error("--frames must be >= 1")

    start = read_cam_poses(args.campose)[0]
    K = read_intrinsics(args.intrinsics)[0]
    if args.center is not None:
        centre = np.array(args.center)
    elif args.pointcloud:
        xyz, _ = read_points(args.pointcloud)
        centre = (xyz.min(0) + xyz.max(0)) / 2.0
    else:
        raise NpcrError("give the look-at centre: --pointcloud FILE or --center X Y Z")
    up = np.array(args.up) if args.up is not None else -start[:3, 1]
    if np.linalg.norm(up) == 0:
        raise NpcrError("--up must be a non-zero vector")
    try:
        poses = surround_path(start, centre, up, args.frames, args.elevation)
    except ValueError as exc:
        raise NpcrError(str(exc)) from None
    out = Path(args.out)
    write_cam_poses(out / "CamPose.inf", poses)
    write_intrinsics(out / "Intrinsic.inf", np.repeat(K[None], args.frames, axis=0))
    print(f"wrote {args.frames} cameras around {np.round(centre.astype(np.float64), 4).tolist()} to {out}")


if __name__ == "__main__":
    run_cli(main)
