#!/usr/bin/env python3
"""Render a trained model: RGBA frames and an mp4 along the given (default: held-out) cameras."""
import argparse

from npcr.cli import run_cli
from npcr.engine import render_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR (has config.yml)")
    parser.add_argument("--epoch", type=int, help="checkpoint epoch (default: LOAD_EPOCH, else latest)")
    parser.add_argument("--cameras", help="CamPose.inf of the cameras to render")
    parser.add_argument("--intrinsics", help="Intrinsic.inf for --cameras (default: the dataset's)")
    parser.add_argument("--out", help="output folder (default: OUTPUT_DIR/render_<epoch>)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="render size")
    parser.add_argument("--fps", type=int, default=24, help="video frame rate")
    parser.add_argument("--frame", type=int, help="point cloud of this trained frame (default: first)")
    parser.add_argument("--spiral", action="store_true",
                        help="render the dataset's CamPose_spiral.inf / Intrinsic_spiral.inf path")
    parser.add_argument("--depth", action="store_true",
                        help="also write layer-0 depth_%%04d.npy (for refine.py --cache and "
                             "evaluate.py --temporal)")
    args = parser.parse_args()
    render_views(args.output_dir, args.epoch, args.cameras, args.intrinsics, args.out,
                 tuple(args.size) if args.size else None, args.fps, args.frame, args.spiral,
                 args.depth)


if __name__ == "__main__":
    run_cli(main)
