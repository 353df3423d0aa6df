#!/usr/bin/env python3
"""Render a trained model: RGBA frames and an mp4 along the given (default: held-out) cameras."""
from npcr.commands.render import cli

if __name__ == "__main__":
    cli()
