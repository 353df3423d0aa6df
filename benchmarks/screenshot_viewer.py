"""Screenshot of the web viewer (tools/view.py) showing a trained model, for the docs (docs/rendering.md).

    python benchmarks/screenshot_viewer.py --output-dir output/demo --out benchmarks/results/viewer.png

Needs Debian's chromium package (`make test` installs it); WebGL runs in software (SwiftShader).
"""
import argparse
import signal
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import browser_screenshot, free_port, wait_for_http  # noqa: E402  (tests/helpers.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="output/demo", help="a training OUTPUT_DIR")
    parser.add_argument("--out", default="benchmarks/results/viewer.png")
    parser.add_argument("--size", type=int, default=512, help="render height at rest")
    parser.add_argument("--wait", type=float, default=15.0,
                        help="seconds for the render at rest to arrive")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tools" / "view.py"), "--output-dir",
                               args.output_dir, "--port", str(port), "--size", str(args.size)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        image = browser_screenshot(f"http://127.0.0.1:{port}/", wait=args.wait, window=(1000, 560))
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    if server.returncode != 0:
        sys.exit(f"tools/view.py failed:\n{err[-2000:]}")
    cv2.imwrite(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")


if __name__ == "__main__":
    main()
