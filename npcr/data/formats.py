"""Scene formats by name, with detection from a folder's contents."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from ..outputs import SCENE_WRITER, output_folder
from .colmap import find_model_dir, read_colmap
from .npcr_layout import load_native_scene, write_native
from .scene import Scene
from .transforms import read_transforms, write_transforms
from .multicam_video import read_video_capture

READERS = {"native": load_native_scene, "colmap": read_colmap, "transforms": read_transforms,
           "video": read_video_capture}
WRITERS = {"native": write_native, "transforms": write_transforms}


def detect_format(root: str | Path) -> str:
    """"native", "transforms", "colmap" or "video", from the files found under ``root``."""
    root = Path(root)
    if not root.exists():
        raise DataFormatError(root, "dataset not found")
    if root.is_file() and root.suffix == ".json":
        return "transforms"
    if (root / "CamPose.inf").is_file():
        return "native"
    if (root / "transforms.json").is_file():
        return "transforms"
    if root.is_dir() and find_model_dir(root) is not None:
        return "colmap"
    if (root / "pose").is_dir() and (root / "intrinsic").is_dir():
        return "video"
    raise DataFormatError(root, "unknown dataset format: expected CamPose.inf (native), "
                          "transforms.json, a COLMAP model (cameras.bin/txt, sparse/0) or a video "
                          "capture (pose/, intrinsic/, rgb/)")


def load_scene_from(root: str | Path, fmt: str = "auto", check_files: bool = True) -> Scene:
    """Read the scene at ``root`` in format ``fmt`` ("auto" detects it); with ``check_files``
    every file it references must exist (``Scene.check_files``)."""
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise DataFormatError(root, f"unknown format {fmt!r}; choose auto, {', '.join(READERS)}")
    scene = READERS[fmt](root)
    if check_files:
        scene.check_files()
    return scene


def write_scene(scene: Scene, out: str | Path, fmt: str, overwrite: bool = False,
                notes: dict[str, str] | None = None) -> None:
    """Write ``scene`` to ``out`` in format ``fmt`` (and the text files ``notes``, name -> text),
    complete or not at all, by the output rule of ``npcr.outputs`` (``overwrite``: --overwrite)."""
    if fmt not in WRITERS:
        raise DataFormatError(out, f"cannot write format {fmt!r}; choose {', '.join(WRITERS)}")
    with output_folder(out, SCENE_WRITER, overwrite) as stage:
        WRITERS[fmt](scene, stage)
        for name, text in (notes or {}).items():
            (stage / name).write_text(text)
