"""The one rule for every tool's output folder.

A tool writes into a folder that is empty (or new), or that holds only this tool's own earlier
output, or, given ``--overwrite``, beside other files: then only the files its earlier output
listed are removed (and any file of the same name as a new one replaced). A folder that holds a
scene (CamPose.inf, transforms.json, sparse/) or a training run (config.yml with checkpoints or a
lock) that is not this tool's own output is never written into, nor is another tool's output.

What a tool wrote is listed in the folder's manifest, ``.npcr-output.json``. The work is staged in
a hidden folder inside the output folder (so moving it into place cannot fail for lying on another
file system, nor on an empty mount point) and moved into place only when the tool succeeds; a
lock, ``.npcr.lock``, keeps two tools from writing there at once.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import NpcrError

MANIFEST = ".npcr-output.json"
LOCK_FILE = ".npcr.lock"
STAGING_PREFIX = ".npcr-staging-"
SCENE_MARKERS = ("CamPose.inf", "transforms.json", "sparse")
SCENE_WRITER = "a scene writer"  # the label of every scene writer's output (one replaces another's)


@dataclass
class Manifest:
    """What ``tool`` wrote into a folder: ``files``, paths relative to it."""
    tool: str
    files: list[str]


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None where it has none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        manifest = Manifest(str(data["tool"]), [str(f) for f in data["files"]])
    except (OSError, ValueError, KeyError, TypeError):
        raise NpcrError(f"{path}: not a manifest written by npcr; remove it, or choose another "
                        f"output folder") from None
    if any(Path(f).is_absolute() or ".." in Path(f).parts for f in manifest.files):
        raise NpcrError(f"{path}: lists files outside its folder")
    return manifest


def _files_under(folder: Path) -> list[str]:
    """Every file (or link) under ``folder`` as a path relative to it, npcr's bookkeeping aside."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if not d.startswith(STAGING_PREFIX)]
            files = [f for f in files if f not in (MANIFEST, LOCK_FILE)]
        found += [str(rel / f) for f in files]
        found += [str(rel / d) for d in dirs if (Path(root) / d).is_symlink()]
        if not files and not dirs and rel != Path("."):
            found.append(str(rel) + "/")  # an empty folder is the user's too
    return sorted(found)


def _shown(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _refuse_scene_or_run(folder: Path, names: set[str], tool: str) -> None:
    """Refuse ``folder`` if ``names`` (entries of it) make it a scene or a training run."""
    scene = [m for m in SCENE_MARKERS if m in names]
    if scene:
        raise NpcrError(f"{folder}: holds a scene ({_shown(scene)}); write {tool}'s output to "
                        f"another folder")
    if "config.yml" in names and (any(n.endswith(".pth") for n in names)
                                  or (folder / LOCK_FILE).exists()):
        raise NpcrError(f"{folder}: holds a training run (config.yml and checkpoints); write "
                        f"{tool}'s output to another folder")


def _folder_path(folder: str | os.PathLike) -> Path:
    """``folder`` as a path that is a folder or nothing yet: an empty path, a link to nothing and
    an existing file are refused."""
    if not str(folder).strip():
        raise NpcrError("the output folder is an empty path; name a folder")
    folder = Path(folder)
    if folder.is_symlink() and not folder.exists():
        raise NpcrError(f"{folder}: a symbolic link to nothing (dangling, or a loop)")
    if folder.exists() and not folder.is_dir():
        raise NpcrError(f"{folder}: exists and is not a folder")
    return folder


def check_shared_folder(folder: str | os.PathLike, tool: str, run_ok: bool = False) -> Path:
    """A folder that ``tool`` shares with others, writing only files of its own names and
    removing nothing (a benchmark's results folder; with ``run_ok``, a training's OUTPUT_DIR):
    refused if it is a file, a scene, a tool's output (it has a manifest) or, unless ``run_ok``,
    a training run."""
    folder = _folder_path(folder)
    if folder.is_dir():
        names = {p.name for p in folder.iterdir()}
        _refuse_scene_or_run(folder, names - {"config.yml"} if run_ok else names, tool)
        manifest = read_manifest(folder)
        if manifest is not None:
            raise NpcrError(f"{folder}: holds the output of {manifest.tool}; write {tool}'s "
                            f"files to another folder")
    return folder


def check_output(folder: str | os.PathLike, tool: str, overwrite: bool = False) -> Manifest | None:
    """Refuse ``folder`` as ``tool``'s output where the rule (module docstring) forbids it, before
    any work is done; returns this tool's earlier manifest there, if any."""
    folder = _folder_path(folder)
    if not folder.is_dir():
        return None
    manifest = read_manifest(folder)
    if manifest is not None and manifest.tool != tool:
        if manifest.tool == SCENE_WRITER:  # npcr wrote it, but it is a scene like any other
            _refuse_scene_or_run(folder, {Path(f).parts[0] for f in manifest.files}, tool)
        raise NpcrError(f"{folder}: holds the output of another tool ({manifest.tool}); choose "
                        f"another folder")
    own = set(manifest.files) if manifest else set()
    foreign = [f for f in _files_under(folder) if f not in own]
    if not foreign:
        return manifest
    _refuse_scene_or_run(folder, {Path(f).parts[0] for f in foreign}, tool)
    if not overwrite:
        raise NpcrError(f"{folder}: folder exists and is not empty ({_shown(foreign)}); choose a "
                        f"new folder, or pass --overwrite to write beside those files (it "
                        f"replaces only files of the same names)")
    return manifest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder: Path, holder: str = "another npcr tool") -> Iterator[None]:
    """Hold ``folder/.npcr.lock`` (holding this process's PID) for the block. A lock held by a
    live process is refused with its PID (``holder`` names what it is); one left by a killed
    process is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise NpcrError(f"{folder}: {holder} (PID {pid}) is writing there; wait for it "
                                f"or choose another folder") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise NpcrError(f"{path}: cannot take the lock")
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _write_manifest(folder: Path, tool: str, files: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f"{STAGING_PREFIX}manifest-", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump({"tool": tool, "files": sorted(set(files))}, f, indent=1)
        f.write("\n")
    os.replace(tmp, folder / MANIFEST)


def _remove_files(folder: Path, files: list[str]) -> None:
    """Remove ``files`` (relative to ``folder``) and the folders they leave empty."""
    for name in files:
        path = folder / name
        if path.is_file() or path.is_symlink():
            path.unlink()
        for parent in path.parents:
            if parent == folder or folder not in parent.parents:
                break
            with contextlib.suppress(OSError):  # not empty: a file of someone else's
                parent.rmdir()


def _commit(folder: Path, stage: Path, tool: str, earlier: Manifest | None) -> None:
    """Move the staged files into ``folder`` and list them in its manifest; the earlier output's
    files that the new one does not replace go. The manifest lists both while they move, so that
    a crash in between leaves nothing unaccounted for."""
    new = _files_under(stage)
    old = earlier.files if earlier else []
    _write_manifest(folder, tool, old + new)
    for name in new:
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            raise NpcrError(f"{target}: a folder is in the way of {tool}'s file of that name")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, target)
    _remove_files(folder, [f for f in old if f not in set(new)])
    _write_manifest(folder, tool, new)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def output_folder(folder: str | os.PathLike, tool: str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder for ``tool``'s output to ``folder`` (checked by ``check_output``,
    under the folder's lock); when the block ends without an error its files replace the earlier
    output there. On an error nothing in ``folder`` changes (a folder this call made is removed)."""
    check_output(folder, tool, overwrite)
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(folder, f"another {tool}"):
            earlier = check_output(folder, tool, overwrite)  # again: nobody else can write now
            for stale in folder.glob(STAGING_PREFIX + "*"):  # a killed run's
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
            stage.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; folders moved out keep theirs
            try:
                yield stage
                _commit(folder, stage, tool, earlier)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except BaseException:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
