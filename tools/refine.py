#!/usr/bin/env python3
"""Temporal refinement (NPCR's refine step) of a trained renderer.

  tools/refine.py --train --output-dir OUT [KEY VALUE ...]   train the refine net (REFINE.* keys)
  tools/refine.py --output-dir OUT [--cameras CamPose.inf --intrinsics Intrinsic.inf]
                  [--cache RENDER_DIR]                        render a path, refined, streaming

Rendering writes refined RGBA frames, video.mp4, side_by_side.mp4 (raw | refined) and stats.json
(warping error of raw and refined video, peak memory). --cache reuses the frames and depth of a
tools/render.py --depth folder instead of rendering again.
"""
from npcr.commands.refine import cli

if __name__ == "__main__":
    cli()
