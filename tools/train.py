#!/usr/bin/env python3
"""Train a neural point renderer: tools/train.py --config configs/demo.yml [KEY VALUE ...]."""
from npcr.commands.train import cli

if __name__ == "__main__":
    cli()
