#!/usr/bin/env python3
"""Convert a scene between formats: tools/convert_dataset.py --from colmap --to native IN OUT."""
import argparse

from npcr.cli import run_cli
from npcr.data.formats import READERS, WRITERS, load_scene_from, write_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="src", default="auto", choices=["auto", *READERS])
    parser.add_argument("--to", dest="dst", required=True, choices=list(WRITERS))
    parser.add_argument("input", help="scene folder (or transforms.json)")
    parser.add_argument("output", help="folder to write; replaced only once complete")
    args = parser.parse_args()
    scene = load_scene_from(args.input, args.src)
    write_scene(scene, args.output, args.dst)
    print(f"wrote {args.output} ({args.dst}): {scene.num_cameras} cameras, frames {scene.frames}")


if __name__ == "__main__":
    run_cli(main)
