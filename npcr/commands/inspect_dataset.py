"""Check a dataset before training: summary, per-camera depth range and point/matte agreement,
overlays of the projected points on the photos, and a top-down plot of cameras and points."""
import argparse
import json
from pathlib import Path

from npcr.cli import number, run_cli
from npcr.data.formats import READERS, load_scene_from
from npcr.data.scene_check import inspect_scene
from npcr.outputs import output_folder

INSPECT_TOOL = "tools/inspect_dataset.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", help="scene folder (or transforms.json)")
    parser.add_argument("--format", default="auto", choices=["auto", *READERS])
    parser.add_argument("--frame", type=number(int, 0), default=0)
    parser.add_argument("--out", help="folder for overlays and top_down.png (default ROOT/inspect): "
                        "new, empty or an earlier inspection's, which this one replaces")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out that holds other files too (they stay)")
    parser.add_argument("--max-overlays", type=number(int, 0), default=8)
    args = parser.parse_args()
    scene = load_scene_from(args.root, args.format)
    out = Path(args.out) if args.out else Path(args.root).with_suffix("") / "inspect"
    with output_folder(out, INSPECT_TOOL, args.overwrite) as stage:
        reports, summary = inspect_scene(scene, args.frame, stage, args.max_overlays)
    print(json.dumps(summary))
    print("camera  near      far       visible  in_matte")
    for r in reports:
        print(f"{r.camera:6d}  {r.near:8.4g}  {r.far:8.4g}  {r.visible:7d}  {r.in_matte:8.1%}")
    bad = [r.camera for r in reports if r.visible == 0 or r.in_matte < 0.5]
    if bad:
        print(f"warning: cameras {bad} see no points or points mostly outside the matte: "
              "check their poses")
    print(f"overlays and top_down.png in {out}")



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
