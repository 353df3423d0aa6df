"""Line-oriented numeric text files: parsing with errors that name the file and the line."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

log = logging.getLogger(__name__)

ORTHONORMAL_TOL = 1e-3


def parse_numbers(path: Path, lineno: int, line: str, count: int | tuple[int, ...]) -> list[float]:
    """The numbers of one line; there must be ``count`` (or one of the counts) and all finite."""
    counts = (count,) if isinstance(count, int) else count
    parts = line.split()
    if len(parts) not in counts:
        want = " or ".join(str(c) for c in counts)
        raise DataFormatError(path, f"expected {want} numbers, found {len(parts)}", lineno)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise DataFormatError(path, f"not a number in {line.strip()!r}", lineno) from None
    if not all(np.isfinite(values)):
        raise DataFormatError(path, f"non-finite number in {line.strip()!r}", lineno)
    return values


def nonblank_lines(path: Path) -> list[tuple[int, str]]:
    """(line number from 1, text) of the non-blank lines of ``path``."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataFormatError(path, f"not a text file (byte 0x{data[exc.start]:02x} is not UTF-8)",
                              line) from None
    return [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]


def check_rotation(path: Path, lineno: int, rot: np.ndarray) -> None:
    """Refuse a non-orthonormal rotation; warn about a mirrored one (det -1)."""
    err = np.abs(rot.T @ rot - np.eye(3)).max()
    if err > ORTHONORMAL_TOL:
        raise DataFormatError(path, f"rotation is not orthonormal (max |R^T R - I| = {err:.2g})",
                              lineno)
    if np.linalg.det(rot) < 0:
        log.warning("%s:%d: rotation has determinant -1 (a mirrored camera)", path, lineno)
