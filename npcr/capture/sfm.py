"""Structure from motion and triangulation with pycolmap, on the CPU (SIFT, exhaustive or
sequential matching, incremental mapping). Photos are read from one folder by name."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import NpcrError

MATCHERS = ("exhaustive", "sequential")
ALL_CORES = -1  # COLMAP's number of threads for "as many as the machine has"


@contextlib.contextmanager
def quiet_colmap() -> Iterator[None]:
    """No COLMAP log below fatal: its per-image lines drown npcr's progress, and npcr reports
    failures itself (one line)."""
    import pycolmap

    before = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 3
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = before


def _match(database: Path, matcher: str, threads: int) -> None:
    import pycolmap

    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = threads
    if matcher == "exhaustive":
        pycolmap.match_exhaustive(database, matching_options=matching, device=pycolmap.Device.cpu)
    elif matcher == "sequential":
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = 10
        pairing.quadratic_overlap = True
        pycolmap.match_sequential(database, matching_options=matching, pairing_options=pairing,
                                  device=pycolmap.Device.cpu)
    else:
        raise NpcrError(f"matcher {matcher!r}: choose {' or '.join(MATCHERS)}")


def extract_and_match(images: Path, names: list[str], database: Path, matcher: str,
                      camera_model: str = "SIMPLE_RADIAL", single_camera: bool = True,
                      threads: int = ALL_CORES) -> None:
    """SIFT features of the photos ``names`` in ``images`` into a new ``database``, then matches
    and two-view geometry. One camera for all photos (``single_camera``, a phone capture) or one
    each; ``threads`` CPU threads (``ALL_CORES``: all)."""
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera_model
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = threads
    mode = pycolmap.CameraMode.SINGLE if single_camera else pycolmap.CameraMode.PER_IMAGE
    pycolmap.extract_features(database, images, image_names=names, camera_mode=mode,
                              reader_options=reader, extraction_options=extraction,
                              device=pycolmap.Device.cpu)
    _match(database, matcher, threads)


def incremental_sfm(images: Path, database: Path, work: Path, seed: int = 0,
                    threads: int = ALL_CORES):
    """The largest reconstruction incremental mapping makes from ``database`` (pycolmap
    Reconstruction), or None when it registers no photo."""
    import pycolmap

    pycolmap.set_random_seed(seed)
    options = pycolmap.IncrementalPipelineOptions()
    options.random_seed = seed
    options.num_threads = threads
    work.mkdir(parents=True, exist_ok=True)
    models = pycolmap.incremental_mapping(database, images, work, options)
    if not models:
        return None
    return max(models.values(), key=lambda rec: rec.num_reg_images())


def triangulate_known_poses(images: Path, names: list[str], K: np.ndarray,
                            cam_to_world: np.ndarray, database: Path, work: Path,
                            matcher: str, threads: int = ALL_CORES):
    """Sparse points seen from cameras whose poses are known: pinhole photos ``names`` (K in npcr's
    convention, pixel centres at integers; (M, 3, 3) and (M, 4, 4) camera-to-world) are matched
    and their tracks triangulated, the poses held fixed. Returns (xyz (N, 3), colours (N, 3))."""
    import cv2
    import pycolmap

    extract_and_match(images, names, database, matcher, camera_model="PINHOLE",
                      single_camera=False, threads=threads)
    rec = pycolmap.Reconstruction()
    with pycolmap.Database.open(database) as db:
        by_name = {img.name: img for img in db.read_all_images()}
    for i, name in enumerate(names):
        img = by_name[name]
        h, w = cv2.imread(str(images / name), cv2.IMREAD_UNCHANGED).shape[:2]
        k = K[i]
        cam = pycolmap.Camera(model="PINHOLE", width=w, height=h, camera_id=img.camera_id,
                              params=[k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5])
        rec.add_camera_with_trivial_rig(cam)
        w2c = np.linalg.inv(cam_to_world[i])
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(w2c[:3, :3]), w2c[:3, 3])
        rec.add_image_with_trivial_frame(
            pycolmap.Image(name=name, camera_id=img.camera_id, image_id=img.image_id), pose)
    work.mkdir(parents=True, exist_ok=True)
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = threads
    rec = pycolmap.triangulate_points(rec, database, images, work, options=options)
    pts = [p for _, p in sorted(rec.points3D.items())]
    xyz = np.array([p.xyz for p in pts], dtype=np.float32).reshape(-1, 3)
    colors = np.array([p.color for p in pts], dtype=np.float32).reshape(-1, 3) / 255.0
    return xyz, colors
