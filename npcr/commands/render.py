"""Render a trained model: RGBA frames and an mp4 along the given (default: held-out) cameras."""
import argparse

from npcr.cli import add_epoch_arg, number, run_cli
from npcr.engine import render_views
from npcr.engine.render import Orbit


def frame_choice(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frame number or 'all', got {text!r}") from None


def azimuth_range(text: str) -> tuple[float, float]:
    try:
        a0, a1 = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected AZ0:AZ1 in degrees, got {text!r}") from None
    return a0, a1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR (has config.yml)")
    add_epoch_arg(parser)
    parser.add_argument("--cameras", help="CamPose.inf of the cameras to render")
    parser.add_argument("--intrinsics", help="Intrinsic.inf for --cameras (default: the dataset's)")
    parser.add_argument("--out", help="output folder (default: OUTPUT_DIR/render_<epoch>): new, "
                        "empty or an earlier render's, which this render replaces")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out that holds other files too (they stay)")
    parser.add_argument("--size", type=number(int, 1), nargs=2, metavar=("H", "W"), help="render size")
    parser.add_argument("--fps", type=number(int, 1), default=24, help="video frame rate")
    parser.add_argument("--frame", type=frame_choice,
                        help="point cloud of this trained frame (default: first), or 'all': the "
                             "trained frames play in order along the path (dynamic scenes)")
    parser.add_argument("--spiral", action="store_true",
                        help="render the dataset's CamPose_spiral.inf / Intrinsic_spiral.inf path")
    parser.add_argument("--orbit", type=azimuth_range, metavar="AZ0:AZ1",
                        help="orbit the point cloud from azimuth AZ0 to AZ1 degrees (0 = first "
                             "camera; 0:360 is a closed loop)")
    parser.add_argument("--elevation", type=number(float, -90, 90), default=0.0, help="--orbit elevation, degrees")
    parser.add_argument("--radius", type=number(float, 0, above=True), help="--orbit radius (default: the cameras')")
    parser.add_argument("--frames", type=number(int, 1), default=72, help="--orbit frames")
    parser.add_argument("--depth", action="store_true",
                        help="also write layer-0 depth_%%04d.npy (for refine.py --cache and "
                             "evaluate.py --temporal)")
    parser.add_argument("--photo", type=number(int, 0), metavar="CAMERA",
                        help="apply training photo CAMERA's exposure and white balance "
                             "(MODEL.PHOTOMETRIC); default: uncorrected")
    args = parser.parse_args()
    orbit = Orbit(args.orbit, args.elevation, args.radius, args.frames) if args.orbit else None
    render_views(args.output_dir, args.epoch, args.cameras, args.intrinsics, args.out,
                 tuple(args.size) if args.size else None, args.fps, args.frame, args.spiral,
                 args.depth, orbit, args.photo, args.overwrite)



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
