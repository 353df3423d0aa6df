#!/usr/bin/env python3
"""Interactive viewer of a trained model in the browser (viser): orbit/pan/zoom, render, alpha or
depth layers, the point cloud, and a recorded camera path for render.py / refine.py.

tools/view.py --output-dir output/demo [--port 8080] then open http://localhost:8080
"""
from npcr.commands.view import cli

if __name__ == "__main__":
    cli()
