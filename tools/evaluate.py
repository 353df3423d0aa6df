#!/usr/bin/env python3
"""Evaluate a trained model on its held-out cameras: PSNR, SSIM, alpha error (JSON) and a contact
sheet of truth | prediction | 4x error."""
import argparse

from npcr.cli import run_cli
from npcr.engine.evaluate import evaluate_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR (has config.yml)")
    parser.add_argument("--epoch", type=int, help="checkpoint epoch (default: LOAD_EPOCH, else latest)")
    parser.add_argument("--out", help="report folder (default: OUTPUT_DIR/eval_<epoch>)")
    args = parser.parse_args()
    report = evaluate_views(args.output_dir, args.epoch, args.out)
    print(f"epoch {report['epoch']}: PSNR {report['mean_psnr']:.2f} dB, "
          f"SSIM {report['mean_ssim']:.4f}, alpha MAE {report['mean_alpha_mae']:.4f} "
          f"over {len(report['views'])} views")


if __name__ == "__main__":
    run_cli(main)
