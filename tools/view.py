#!/usr/bin/env python3
"""Interactive viewer of a trained model in the browser (viser): tools/view.py --output-dir OUT
(the options: --help; the code: npcr/commands/view.py)."""
from npcr.commands.view import cli

if __name__ == "__main__":
    cli()
