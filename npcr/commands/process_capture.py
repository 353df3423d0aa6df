"""Turn a real capture into a training-ready native scene.

tools/process_capture.py IN OUT [--max-size 1000] [--matcher exhaustive|sequential]
                                [--points given|sparse|dense] [--skip-missing] [--fps 2]
                                [--stereo-size 320] [--coarse-levels 2]

IN is a folder of photos without poses (structure from motion with pycolmap finds them), a video
file (.mp4, .mov, ...: frames at --fps, the sharpest of each interval, blurry ones dropped), or a
posed scene (transforms.json, a COLMAP model, a native scene) whose poses are kept. OUT gets
pinhole photos of one size and orientation (lens distortion undistorted with the same K; pixels
without a source marked in img_%04d_valid.png), CamPose.inf, Intrinsic.inf, the points and
capture.json (counts and seconds per stage). Points: a native or transforms.json input's own cloud
when it has one; otherwise dense points from the photos (plane-sweep stereo), whose depth ranges
come from the SfM, COLMAP or triangulated points ("sparse" keeps those instead).
"""
import argparse
from pathlib import Path

from npcr.capture.densify import DensifyOptions
from npcr.capture.process import POINT_CHOICES, CaptureOptions, process_capture
from npcr.capture.sfm import MATCHERS
from npcr.capture.video_frames import VIDEO_EXTENSIONS
from npcr.cli import number, run_cli
from npcr.fileio import check_apart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="photos folder, video file or scene")
    parser.add_argument("output", help="new or empty folder for the native scene")
    parser.add_argument("--max-size", type=number(int, 0), default=1000, metavar="PX",
                        help="longest side of the written photos (0: keep)")
    parser.add_argument("--matcher", choices=MATCHERS,
                        help="feature matching (default: exhaustive; sequential for a video)")
    parser.add_argument("--points", choices=POINT_CHOICES,
                        help="point cloud (default: a native/transforms input's own, else dense)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="drop cameras whose image files are missing instead of refusing")
    parser.add_argument("--fps", type=number(float, 0, above=True), default=2.0, help="frames per second of a video")
    parser.add_argument("--stereo-size", type=number(int, 16), default=DensifyOptions.max_size, metavar="PX",
                        help="longest side of the photos dense stereo works on")
    parser.add_argument("--coarse-levels", type=number(int, 0, 6), default=DensifyOptions.coarse_levels,
                        metavar="N", help="stereo also at 1/2 ... 1/2^N of --stereo-size for what "
                                          "finer levels missed (faint or fine texture); 0: off")
    parser.add_argument("--threads", type=number(int, 0), default=0, metavar="N",
                        help="CPU threads of structure from motion (default 0: all); with 1 every "
                             "run gives the same poses and points")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty OUT, replacing only the files written here")
    args = parser.parse_args()
    if Path(args.input).suffix.lower() not in VIDEO_EXTENSIONS:  # a video may sit beside OUT
        check_apart(args.input, args.output)
    opts = CaptureOptions(args.max_size, args.matcher, args.skip_missing, args.points, args.fps,
                          DensifyOptions(max_size=args.stereo_size,
                                         coarse_levels=args.coarse_levels),
                          threads=args.threads)
    summary = process_capture(args.input, args.output, opts, args.overwrite)
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items())
    print(f"wrote {args.output}: {summary['cameras']} cameras of {summary['photos']} photos "
          f"({summary['size'][1]}x{summary['size'][0]}), {summary['points']} points "
          f"({summary['points_from']}); {seconds}")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
