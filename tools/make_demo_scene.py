#!/usr/bin/env python3
"""Build the procedural fur-ball demo scene (ray-traced RGB + alpha, sampled points), native layout."""
import argparse
import time

from npcr.cli import run_cli
from npcr.data import write_native_scene
from npcr.data.demo_scene import make_demo_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="scene folder to write (replaced if present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--cameras", type=int, default=48, help="number of cameras (>= 2)")
    parser.add_argument("--strands", type=int, default=600)
    parser.add_argument("--points", type=int, default=60000)
    args = parser.parse_args()
    if args.cameras < 2 or args.size < 8 or args.points < 1:
        parser.error("need --cameras >= 2, --size >= 8, --points >= 1")
    t0 = time.time()
    scene = make_demo_scene(args.seed, args.size, args.cameras, args.strands, args.points)
    write_native_scene(args.out, scene.cam_to_world, scene.K, scene.images, scene.alphas,
                       scene.points, scene.colors)
    print(f"wrote {args.out}: {args.cameras} cameras of {args.size}x{args.size}, "
          f"{len(scene.points)} points ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    run_cli(main)
