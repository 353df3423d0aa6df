"""Train a neural point renderer: tools/train.py --config configs/demo.yml [KEY VALUE ...]."""
import argparse

from npcr.cli import add_config_args, run_cli
from npcr.config import load_config
from npcr.engine import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an OUTPUT_DIR that holds a trained run (its checkpoints "
                             "and metrics are removed; logs stay)")
    add_config_args(parser)
    args = parser.parse_args()
    run_training(load_config(args.config, args.opts), overwrite=args.overwrite)



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
