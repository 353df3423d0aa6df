"""An OUTPUT_DIR belongs to one run at a time: a lock while training writes there, a check that a
new run does not mix with the trained one already there, and no temporary files left behind."""
from __future__ import annotations

import contextlib
from pathlib import Path

import yaml
from yacs.config import CfgNode

from ..config import flat_items, get_cfg_defaults
from ..errors import NpcrError
from ..fileio import TEMPORARY_GLOB
from ..outputs import check_shared_folder, folder_lock
from .checkpoints import RENDERER, CheckpointFiles

# Keys that steer a run without changing what it trains: they may differ on RESUME.
RUN_CONTROL_KEYS = {"OUTPUT_DIR", "RESUME", "LOAD_EPOCH", "DEVICE", "SOLVER.MAX_EPOCHS",
                    "SOLVER.NUM_WORKERS", "SOLVER.CHECKPOINT_PERIOD", "SOLVER.CHECKPOINT_ITERS",
                    "SOLVER.KEEP_CHECKPOINTS", "TEST.EVAL_PERIOD", "TEST.IMAGE_PERIOD",
                    "REFINE.MAX_EPOCHS", "REFINE.CHECKPOINT_PERIOD"}


def output_lock(out_dir: Path) -> contextlib.AbstractContextManager:
    """Hold OUTPUT_DIR's lock while a training writes there (``npcr.outputs.folder_lock``)."""
    return folder_lock(out_dir, "another training")


def remove_temporary_files(out_dir: Path) -> None:
    """Remove what an interrupted write of npcr's left (``fileio.TEMPORARY_GLOB``; a user's
    ``tmp*`` files stay). Only under the lock: no other run writes there then."""
    for path in out_dir.glob(TEMPORARY_GLOB):
        if path.is_file():
            path.unlink(missing_ok=True)


def config_differences(old: CfgNode | dict, new: CfgNode) -> list[str]:
    """``KEY: old -> new`` for every key (run-control keys aside) whose value differs. A key the
    old config lacks (one npcr added since that run) counts as its default, as the tools read an
    old run's config.yml."""
    a, b = {**flat_items(get_cfg_defaults()), **flat_items(old)}, flat_items(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in RUN_CONTROL_KEYS and a.get(k) != b.get(k)]


def clear_run(out_dir: Path, files: CheckpointFiles = RENDERER) -> None:
    """Remove a previous run's checkpoints (named as ``files`` names them) and metrics, by their
    exact names (logs, previews and anything else stay)."""
    for path in [*files.run_files(out_dir), out_dir / "metrics.json"]:
        path.unlink(missing_ok=True)


def check_run_dir(out_dir: Path, cfg: CfgNode, overwrite: bool,
                  files: CheckpointFiles = RENDERER) -> None:
    """Refuse to mix a new run with the trained one in ``out_dir``: without RESUME, or with a config
    that differs from its config.yml, unless ``overwrite`` (then the trainer calls ``clear_run``
    once the new run is known to start). ``files``: the run's checkpoint names (the renderer's,
    or the refine net's in OUTPUT_DIR/refine)."""
    check_shared_folder(out_dir, "the training", run_ok=True)  # never a scene's folder
    epochs = files.epochs(out_dir)
    resume_points = files.resume_iterations(out_dir)
    if overwrite or (not epochs and not resume_points):
        return
    if not cfg.RESUME:
        trained = f"epochs {epochs}" if epochs else "a resume point"
        raise NpcrError(f"{out_dir} already holds a trained run ({trained}): RESUME True continues "
                        f"it, --overwrite starts over there, or choose another OUTPUT_DIR")
    old = out_dir / "config.yml"
    try:
        saved = yaml.safe_load(old.read_text()) if old.is_file() else None
    except (OSError, yaml.YAMLError):
        saved = None
    changed = config_differences(saved, cfg) if isinstance(saved, dict) else ["config.yml unreadable"]
    if changed:
        shown = "; ".join(changed[:4]) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")
        raise NpcrError(f"{out_dir}: RESUME with a config that differs from its config.yml ({shown}); "
                        f"--overwrite starts over there, or choose another OUTPUT_DIR")
