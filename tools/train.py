#!/usr/bin/env python3
"""Train a neural point renderer: tools/train.py --config configs/demo.yml [KEY VALUE ...]."""
import argparse
from pathlib import Path

from npcr.cli import add_config_args, run_cli
from npcr.config import load_config, save_config
from npcr.engine import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    args = parser.parse_args()
    cfg = load_config(args.config, args.opts)
    save_config(cfg, Path(cfg.OUTPUT_DIR) / "config.yml")
    run_training(cfg)


if __name__ == "__main__":
    run_cli(main)
