#!/usr/bin/env python3
"""Turn a real capture into a training-ready native scene
(the options: --help; the code: npcr/commands/process_capture.py)."""
from npcr.commands.process_capture import cli

if __name__ == "__main__":
    cli()
