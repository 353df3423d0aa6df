"""Helpers the command-line tools share: config arguments and one-line error reporting."""
from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from pathlib import Path
from typing import Callable

from .errors import NpcrError, one_line
from .outputs import check_shared_folder


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="yml config (differences from defaults)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. SOLVER.MAX_EPOCHS 10")


def number(kind: type = float, low: float | None = None, high: float | None = None,
           above: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite ``kind`` (int or float) in [``low``, ``high``] (``above``:
    strictly above ``low``); NaN and inf are refused, so every tool's numeric options are checked
    where they are parsed."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}"
                                             f", got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value <= low if above else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {low:g}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high:g}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def results_folder(text: str) -> Path:
    """An argparse ``type`` for a benchmark's ``--out``: ``npcr.outputs.check_shared_folder``."""
    try:
        return check_shared_folder(text, Path(sys.argv[0]).name)
    except NpcrError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        loop = _symlink_loop(exc)
        if loop is not None:  # the user's input, not npcr's fault: a link that leads to itself
            print(f"error: {loop}: a symbolic link loop (a link that leads back to itself)",
                  file=sys.stderr)
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


def _symlink_loop(exc: BaseException) -> str | None:
    """The path of a symbolic link loop that ``exc`` reports (pathlib's RuntimeError from
    ``resolve``, or the system's ELOOP), else None."""
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return str(exc.filename) if exc.filename else one_line(exc)
    if type(exc) is RuntimeError and str(exc).startswith("Symlink loop from "):
        return str(exc)[len("Symlink loop from "):].strip("'")
    return None
