"""Temporal refinement (NPCR's refine step) of a trained renderer.

  tools/refine.py --train --output-dir OUT [KEY VALUE ...]   train the refine net (REFINE.* keys)
  tools/refine.py --output-dir OUT [--cameras CamPose.inf --intrinsics Intrinsic.inf]
                  [--cache RENDER_DIR]                        render a path, refined, streaming

Rendering writes refined RGBA frames, video.mp4, side_by_side.mp4 (raw | refined) and stats.json
(warping error of raw and refined video, peak memory). --cache reuses the frames and depth of a
tools/render.py --depth folder instead of rendering again.
"""
import argparse
from pathlib import Path

from npcr.cli import add_epoch_arg, number, run_cli
from npcr.config import load_config
from npcr.temporal.refine_path import refine_path
from npcr.temporal.train import run_refine_training
from npcr.engine.trained import load_trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR (has config.yml)")
    parser.add_argument("--train", action="store_true", help="train the refine net")
    add_epoch_arg(parser, "renderer checkpoint")
    parser.add_argument("--cameras", help="CamPose.inf of the path (default: held-out cameras)")
    parser.add_argument("--intrinsics", help="Intrinsic.inf for --cameras (default: the dataset's)")
    parser.add_argument("--cache", help="folder of tools/render.py --depth output to refine")
    parser.add_argument("--size", type=number(int, 1), nargs=2, metavar=("H", "W"), help="render size")
    parser.add_argument("--out", help="output folder (default: OUTPUT_DIR/refine_<epoch>): new, "
                        "empty or an earlier refine's, which this one replaces")
    parser.add_argument("--overwrite", action="store_true",
                        help="--train: start the refine net over; else: write into an --out that "
                             "holds other files too (they stay)")
    parser.add_argument("--fps", type=number(int, 1), default=24)
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="--train: config overrides, e.g. REFINE.MAX_EPOCHS 5")
    args = parser.parse_args()
    if args.train:
        cfg = load_config(Path(args.output_dir) / "config.yml",
                          ["OUTPUT_DIR", args.output_dir, *args.opts])
        run_refine_training(cfg, load_trained(args.output_dir, args.epoch), args.overwrite)
        return
    if args.opts:
        parser.error("config overrides go with --train")
    refine_path(args.output_dir, args.cameras, args.intrinsics, args.out,
                tuple(args.size) if args.size else None, args.cache, args.fps, epoch=args.epoch,
                overwrite=args.overwrite)



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
