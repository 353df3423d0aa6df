"""Atomic file writing: write to a temporary file beside the target, then rename over it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import NpcrError


# Temporary files of npcr's writers: ``.<name>.npcr-<random>.tmp<suffix>`` beside the target; a
# killed write leaves one, which the trainer removes from its OUTPUT_DIR (no user file is so named).
TEMPORARY_GLOB = ".*.npcr-*.tmp*"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder (named as ``TEMPORARY_GLOB`` says); on
    success it is synced to disk and renamed to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.npcr-", suffix=".tmp" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before it takes the name: a crash leaves old or new
            os.fsync(f.fileno())
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:  # name the file: a failed write() does not
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB(A) or grey uint8 image atomically; channel order is RGB(A), as npcr uses."""
    path = Path(path)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise OSError(f"could not encode image for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as a .npy file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def check_apart(source: str | os.PathLike, output: str | os.PathLike) -> None:
    """Refuse an output folder that is, holds, or lies inside the input."""
    src, out = Path(source).resolve(), Path(output).resolve()
    if src.is_file():
        src = src.parent
    if out == src or src in out.parents or out in src.parents:
        raise NpcrError(f"{output}: the output folder must lie apart from the input {source} "
                        f"(neither inside the other)")
