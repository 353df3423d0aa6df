#!/usr/bin/env python3
"""Check a dataset before training: summary, per-camera depth range and point/matte agreement,
overlays of the projected points on the photos, and a top-down plot of cameras and points."""
from npcr.commands.inspect_dataset import cli

if __name__ == "__main__":
    cli()
