#!/usr/bin/env python3
"""Temporal refinement (NPCR's refine step) of a trained renderer
(the options: --help; the code: npcr/commands/refine.py)."""
from npcr.commands.refine import cli

if __name__ == "__main__":
    cli()
