#!/usr/bin/env python3
"""Convert a scene between formats: tools/convert_dataset.py --from colmap --to native IN OUT."""
from npcr.commands.convert_dataset import cli

if __name__ == "__main__":
    cli()
