"""Interactive viewer of a trained model in the browser (viser): orbit/pan/zoom, render, alpha or
depth layers, the point cloud, and a recorded camera path for render.py / refine.py.

tools/view.py --output-dir output/demo [--port 8080] then open http://localhost:8080
"""
import argparse
import signal
from pathlib import Path

from npcr.cli import add_epoch_arg, number, run_cli
from npcr.engine.trained import load_trained
from npcr.errors import NpcrError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="training OUTPUT_DIR (has config.yml)")
    add_epoch_arg(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=number(int, 1, 65535), default=8080)
    parser.add_argument("--size", type=number(int, 8, 8192), default=512, help="render height at rest, pixels")
    parser.add_argument("--moving-size", type=number(int, 8, 8192), default=128,
                        help="render height while the camera moves")
    parser.add_argument("--path-out", help="folder for the recorded path (default "
                        "OUTPUT_DIR/viewer_path): new, empty or an earlier path's")
    parser.add_argument("--overwrite", action="store_true",
                        help="save into a --path-out that holds other files too (they stay)")
    args = parser.parse_args()
    try:
        from npcr.viewer import Viewer
    except ModuleNotFoundError as exc:
        if exc.name != "viser":
            raise
        raise NpcrError("the viewer needs viser: pip install 'npcr[viewer]' (make install has "
                        "it)") from None
    trained = load_trained(args.output_dir, args.epoch)
    viewer = Viewer(trained, args.host, args.port, args.size, args.moving_size,
                    Path(args.path_out) if args.path_out else None, args.overwrite)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: viewer.stop())
    print(f"npcr viewer of {args.output_dir} (epoch {trained.epoch}): "
          f"http://{args.host}:{viewer.server.get_port()}  (Ctrl-C stops)", flush=True)
    viewer.serve_forever()
    print("viewer stopped", flush=True)



def cli() -> None:
    """Console entry point: ``main`` with npcr's one-line errors and exit codes."""
    run_cli(main)
