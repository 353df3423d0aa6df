#!/usr/bin/env python3
"""Build the procedural fur-ball demo scene (ray-traced RGB + alpha, sampled points), native layout;
with --frames N a moving version of it over N frames."""
from npcr.commands.make_demo_scene import cli

if __name__ == "__main__":
    cli()
