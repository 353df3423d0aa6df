"""Build the procedural fur-ball demo scene (ray-traced RGB + alpha, sampled points), native layout;
with --frames N a moving version of it over N frames."""
import argparse
import time

from npcr.cli import number, run_cli
from npcr.data import write_native_sequence
from npcr.data.demo_scene import make_demo_scene, make_moving_scene
from npcr.outputs import SCENE_WRITER, check_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="new or empty scene folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty --out, replacing only the scene's own files")
    parser.add_argument("--seed", type=number(int, 0), default=0)
    parser.add_argument("--size", type=number(int, 8), default=128, help="image side in pixels")
    parser.add_argument("--cameras", type=number(int, 2), default=48, help="number of cameras (>= 2)")
    parser.add_argument("--strands", type=number(int, 0), default=600)
    parser.add_argument("--points", type=number(int, 1), default=60000)
    parser.add_argument("--frames", type=number(int, 1), default=1,
                        help="more than 1: the fur ball moves (turns and swings) over this many "
                             "frames; the same points, moved, in every frame")
    parser.add_argument("--props", type=number(int, 0), default=0,
                        help="checkered balls scattered around the fur ball (depth for pose "
                             "refinement to lock onto); single frame only")
    args = parser.parse_args()
    if args.props and args.frames > 1:
        parser.error("--props is for a single frame")
    check_output(args.out, SCENE_WRITER, args.overwrite)  # before the ray tracing
    t0 = time.time()
    if args.frames == 1:
        scenes = [make_demo_scene(args.seed, args.size, args.cameras, args.strands, args.points,
                                  props=args.props)]
    else:
        scenes = make_moving_scene(args.frames, args.seed, args.size, args.cameras, args.strands,
                                   args.points)
    write_native_sequence(args.out, scenes[0].cam_to_world, scenes[0].K,
                          [(s.images, s.alphas, s.points, s.colors) for s in scenes],
                          args.overwrite)
    print(f"wrote {args.out}: {args.cameras} cameras of {args.size}x{args.size}, "
          f"{len(scenes[0].points)} points, {args.frames} frame(s) ({time.time() - t0:.1f} s)")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
