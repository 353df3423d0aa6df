#!/usr/bin/env python3
"""Make a camera path (CamPose.inf + Intrinsic.inf, and path_preview.png) from given cameras.

  surround   (default) the circle through the first camera about --up, elevation swinging by
             --elevation degrees
  orbit      --azimuth A0 A1 (degrees from the first camera, about --up), --elevation-range E0 E1
             (degrees above the plane normal to --up; default: the first camera's), --radius R
             (default: the first camera's distance)
  spiral     --turns T full turns while the elevation climbs over --elevation-range
  keyframes  through the cameras of --campose (or --keyframes I J ...), slerp + linear

exparamgen/exgen.py --campose CamPose.inf --intrinsics Intrinsic.inf \\
    (--pointcloud frame1.txt | --center X Y Z) --frames 120 [--path orbit --azimuth 0 180] --out DIR
"""
import argparse
from pathlib import Path

import numpy as np

from npcr.camera_paths import keyframe_path, orbit_path, spiral_path, surround_path
from exparamgen.preview import save_path_preview
from npcr.cli import number, run_cli
from npcr.data import read_cam_poses, read_intrinsics, read_points, write_cam_poses, write_intrinsics
from npcr.errors import NpcrError
from npcr.outputs import check_output, output_folder

EXGEN_TOOL = "exparamgen/exgen.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campose", required=True, help="CamPose.inf; its first line is the start")
    parser.add_argument("--intrinsics", required=True, help="Intrinsic.inf; its first block is used")
    parser.add_argument("--path", choices=("surround", "orbit", "spiral", "keyframes"),
                        default="surround")
    centre = parser.add_mutually_exclusive_group()
    centre.add_argument("--pointcloud", help="look at this cloud's bounding-box centre")
    centre.add_argument("--center", type=number(), nargs=3, metavar=("X", "Y", "Z"))
    parser.add_argument("--frames", type=number(int, 1), default=120)
    parser.add_argument("--up", type=number(), nargs=3, metavar=("X", "Y", "Z"),
                        help="rotation axis (default: the start camera's image up, -y)")
    parser.add_argument("--elevation", type=number(float, -90, 90), default=0.0,
                        help="surround: elevation swing in degrees (one sine period along the path)")
    parser.add_argument("--azimuth", type=number(), nargs=2, default=(0.0, 360.0), metavar=("A0", "A1"))
    parser.add_argument("--elevation-range", type=number(float, -90, 90), nargs=2, metavar=("E0", "E1"))
    parser.add_argument("--radius", type=number(float, 0, above=True), help="orbit/spiral distance from the centre")
    parser.add_argument("--turns", type=number(float, 0, above=True), default=2.0, help="spiral: number of turns")
    parser.add_argument("--keyframes", type=number(int, 0), nargs="+", metavar="I",
                        help="keyframes: camera indices in --campose (default: all, in order)")
    parser.add_argument("--out", required=True,
                        help="folder for CamPose.inf, Intrinsic.inf and path_preview.png: new, "
                             "empty or an earlier path's, which this one replaces")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out that holds other files too (they stay)")
    args = parser.parse_args()
    check_output(args.out, EXGEN_TOOL, args.overwrite)

    cams = read_cam_poses(args.campose)
    start = cams[0]
    K = read_intrinsics(args.intrinsics)[0]
    points = read_points(args.pointcloud)[0] if args.pointcloud else None
    try:
        if args.path == "keyframes":
            ids = args.keyframes if args.keyframes is not None else list(range(len(cams)))
            bad = [i for i in ids if not 0 <= i < len(cams)]
            if bad:
                raise NpcrError(f"{args.campose}: --keyframes {bad} outside 0..{len(cams) - 1}")
            poses = keyframe_path(cams[ids], args.frames)
            described = f"through {len(ids)} keyframes"
        else:
            if args.center is not None:
                centre = np.array(args.center)
            elif points is not None:
                centre = (points.min(0) + points.max(0)) / 2.0
            else:
                raise NpcrError("give the look-at centre: --pointcloud FILE or --center X Y Z")
            up = np.array(args.up) if args.up is not None else -start[:3, 1]
            poses = _around(args, start, centre, up)
            described = f"around {np.round(centre.astype(np.float64), 4).tolist()}"
    except ValueError as exc:
        raise NpcrError(str(exc)) from None
    out = Path(args.out)
    with output_folder(out, EXGEN_TOOL, args.overwrite) as stage:
        write_cam_poses(stage / "CamPose.inf", poses)
        write_intrinsics(stage / "Intrinsic.inf", np.repeat(K[None], len(poses), axis=0))
        save_path_preview(stage / "path_preview.png", poses, points)
    print(f"wrote {len(poses)} cameras ({args.path}) {described} to {out}")


def _around(args: argparse.Namespace, start: np.ndarray, centre: np.ndarray,
            up: np.ndarray) -> np.ndarray:
    """The surround, orbit or spiral path the arguments ask for."""
    if args.path == "surround":
        return surround_path(start, centre, up, args.frames, args.elevation)
    offset = start[:3, 3] - centre
    radius = args.radius if args.radius is not None else float(np.linalg.norm(offset))
    if args.elevation_range is not None:
        elevation = tuple(args.elevation_range)
    else:
        unit_up = up / np.linalg.norm(up)
        own = float(np.degrees(np.arcsin(np.clip(offset @ unit_up / np.linalg.norm(offset), -1, 1))))
        elevation = (own, own)
    if args.path == "orbit":
        return orbit_path(centre, up, offset, radius, tuple(args.azimuth), elevation, args.frames)
    return spiral_path(centre, up, offset, radius, args.turns, elevation, args.frames)



def cli() -> None:
    """Console entry point (``npcr-exgen``)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
