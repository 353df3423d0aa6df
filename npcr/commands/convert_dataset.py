"""Convert a scene between formats: tools/convert_dataset.py --from colmap --to native IN OUT."""
import argparse

from npcr.cli import run_cli
from npcr.data.formats import READERS, WRITERS, load_scene_from, write_scene
from npcr.fileio import check_apart
from npcr.outputs import SCENE_WRITER, check_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="src", default="auto", choices=["auto", *READERS])
    parser.add_argument("--to", dest="dst", required=True, choices=list(WRITERS))
    parser.add_argument("input", help="scene folder (or transforms.json)")
    parser.add_argument("output", help="new or empty folder to write, complete or not at all")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty OUT, replacing only the files written here")
    args = parser.parse_args()
    check_apart(args.input, args.output)
    check_output(args.output, SCENE_WRITER, args.overwrite)  # before reading the input
    scene = load_scene_from(args.input, args.src)
    write_scene(scene, args.output, args.dst, args.overwrite)
    print(f"wrote {args.output} ({args.dst}): {scene.num_cameras} cameras, frames {scene.frames}")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
