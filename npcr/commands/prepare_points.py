"""Clean a scene's point clouds and write a training-ready native scene.

tools/prepare_points.py IN OUT [--voxel 0.005] [--outliers 20 2.0] [--min-views 2] [--normalize]
With --normalize the scene (cameras too) is moved and scaled into the unit sphere; the 4x4 transform
(new = T @ old) is saved as OUT/normalization.txt so renders can be taken back.
"""
import argparse

from npcr.cli import number, run_cli
from npcr.data.formats import READERS, load_scene_from, write_scene
from npcr.data.prepare import PrepareOptions, prepare_scene
from npcr.fileio import check_apart
from npcr.outputs import SCENE_WRITER, check_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--format", default="auto", choices=["auto", *READERS])
    parser.add_argument("--voxel", type=number(float, 0), default=0.0, help="voxel size for down-sampling")
    parser.add_argument("--outliers", type=number(float, 0), nargs=2, metavar=("NEIGHBOURS", "STD"),
                        help="statistical outlier removal")
    parser.add_argument("--min-views", type=number(int, 0), default=0,
                        help="keep points inside the image of at least this many cameras")
    parser.add_argument("--normalize", action="store_true", help="fit the scene in the unit sphere")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty OUT, replacing only the files written here")
    args = parser.parse_args()
    check_apart(args.input, args.output)
    check_output(args.output, SCENE_WRITER, args.overwrite)  # before the work
    neighbours, std = args.outliers if args.outliers else (0, 2.0)
    opts = PrepareOptions(args.voxel, int(neighbours), std, args.min_views, args.normalize)
    scene, T, report = prepare_scene(load_scene_from(args.input, args.format), opts)
    notes = {"normalization.txt": "\n".join(" ".join(f"{x:.12g}" for x in row) for row in T)
             + "\n"} if args.normalize else None
    write_scene(scene, args.output, "native", args.overwrite, notes)
    for frame, counts in report.items():
        print(f"frame {frame}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"wrote {args.output}")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
