"""Helpers the command-line tools share: config arguments and one-line error reporting."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from .errors import NpcrError


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="yml config (differences from defaults)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. SOLVER.MAX_EPOCHS 10")


def run_cli(main: Callable[[], None]) -> None:
    """Run ``main``; user errors print one line ``error: ...`` and exit with status 2, errors of
    the file system (disk full, no permission) with status 1, Ctrl-C with 130."""
    try:
        main()
    except NpcrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # disk full, read-only or missing folders: the system's own words
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
