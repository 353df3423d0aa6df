#!/usr/bin/env python3
"""Clean a scene's point clouds and write a training-ready native scene
(the options: --help; the code: npcr/commands/prepare_points.py)."""
from npcr.commands.prepare_points import cli

if __name__ == "__main__":
    cli()
