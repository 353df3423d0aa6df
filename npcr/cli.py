"""Helpers the command-line tools share: config arguments and one-line error reporting."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from .errors import NpcrError, one_line


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="yml config (differences from defaults)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. SOLVER.MAX_EPOCHS 10")


def add_epoch_arg(parser: argparse.ArgumentParser, what: str = "checkpoint") -> None:
    """``--epoch N`` or ``--epoch best`` (the held-out best, nr_model_best.pth)."""
    def epoch(value: str) -> int | str:
        if value == "best" or value.isdigit():
            return value if value == "best" else int(value)
        raise argparse.ArgumentTypeError(f"an epoch number or 'best', got {value!r}")
    parser.add_argument("--epoch", type=epoch, help=f"{what} epoch, or 'best' for the best "
                        "held-out PSNR (default: LOAD_EPOCH, else the latest)")


def run_cli(main: Callable[[], None]) -> None:
    """Run ``main``; user errors print one line ``error: ...`` and exit with status 2, errors of
    the file system (disk full, no permission) and internal errors with status 1, Ctrl-C or
    SIGTERM with 130. ``--debug`` anywhere on the command line (or NPCR_DEBUG=1) shows the
    traceback instead."""
    debug = os.environ.get("NPCR_DEBUG") == "1" or "--debug" in sys.argv
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, NpcrError):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        if isinstance(exc, OSError):  # disk full, read-only or missing folders: the system's words
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
        if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" \
                or "can't allocate memory" in str(exc):
            print(f"error: out of memory ({one_line(exc, 160)}); try a smaller image size, fewer "
                  "points or fewer layers", file=sys.stderr)
            sys.exit(1)
        print(f"error: internal error ({type(exc).__name__}: {one_line(exc)}); run again with "
              "--debug for the traceback", file=sys.stderr)
        sys.exit(1)
