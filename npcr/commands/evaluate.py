"""Evaluate a trained model on its held-out cameras: PSNR, SSIM, alpha error (JSON) and a contact
sheet of truth | prediction | 4x error. With --temporal FOLDER: the flicker (mean warping error
between consecutive frames) of a video written by render.py --depth or refine.py."""
import argparse

from npcr.cli import add_epoch_arg, number, run_cli
from npcr.config import get_cfg_defaults
from npcr.engine.evaluate import evaluate_views
from npcr.temporal.refine_path import evaluate_temporal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output-dir", help="training OUTPUT_DIR (has config.yml)")
    target.add_argument("--temporal", metavar="FOLDER",
                        help="frames + depth + cameras of a rendered path")
    add_epoch_arg(parser)
    parser.add_argument("--out", help="report folder (default: OUTPUT_DIR/eval_<epoch>; with "
                        "--temporal, none: the report is printed): new, empty or an earlier "
                        "report's, which this one replaces")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out that holds other files too (they stay)")
    parser.add_argument("--depth-tolerance", type=number(float, 0, above=True),
                        default=get_cfg_defaults().REFINE.DEPTH_TOLERANCE,
                        help="--temporal: relative depth agreement for a pixel to count "
                        "(default: REFINE.DEPTH_TOLERANCE, %(default)s)")
    args = parser.parse_args()
    if args.temporal:
        report = evaluate_temporal(args.temporal, args.depth_tolerance, args.out,
                                   args.overwrite)
        print(f"{args.temporal}: warping error {report['warping_error']:.4g} over "
              f"{report['frames']} frames")
        return
    report = evaluate_views(args.output_dir, args.epoch, args.out, args.overwrite)
    print(f"epoch {report['epoch']}: PSNR {report['mean_psnr']:.2f} dB, "
          f"SSIM {report['mean_ssim']:.4f}, alpha MAE {report['mean_alpha_mae']:.4f} "
          f"over {len(report['views'])} views")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
