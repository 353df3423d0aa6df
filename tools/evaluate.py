#!/usr/bin/env python3
"""Evaluate a trained model on its held-out cameras: PSNR, SSIM, alpha error (JSON) and a contact
sheet of truth | prediction | 4x error. With --temporal FOLDER: the flicker (mean warping error
between consecutive frames) of a video written by render.py --depth or refine.py."""
from npcr.commands.evaluate import cli

if __name__ == "__main__":
    cli()
