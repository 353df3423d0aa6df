"""Training checkpoints: NPCR's per-epoch pair and a rolling mid-epoch resume point.

- ``nr_model_<epoch>.pth`` (the model) and ``nr_optimizer_<epoch>.pth`` (optimizer, trainer,
  scheduler, scaler), as NPCR names them, every SOLVER.CHECKPOINT_PERIOD epochs and at the end;
- ``nr_model_best.pth`` (the model) and ``nr_model_best.json`` (its epoch and held-out PSNR): the
  model of the epoch with the best held-out PSNR so far, replaced atomically when one beats it;
- ``nr_resume_<iteration>.pth`` (all of the above in one file) every SOLVER.CHECKPOINT_ITERS
  iterations, so a run killed mid-epoch loses at most that many iterations. Only the newest is kept
  (older ones, of earlier runs too, are removed), and none is left once training completes.

The refine net's checkpoints are the same with prefix "refine" instead of "nr".
Files are written atomically (temp file, then rename) by ignite's DiskSaver; RESUME continues from
the newest point. With the seed-driven sampler (npcr.data.sampling) the resumed run ends with the
same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from ..errors import NpcrError
from ..fileio import write_text
from .common import checkpoint_epochs, load_checkpoint

BEST_MODEL_FILE = "nr_model_best.pth"
BEST_RECORD_FILE = "nr_model_best.json"


class CheckpointSaver(DiskSaver):
    """ignite's atomic DiskSaver whose failures (a full disk, no permission) name the file; the
    temporary file of a failed write is removed by DiskSaver."""

    def __init__(self, dirname: Path):
        super().__init__(str(dirname), atomic=True, require_empty=False)

    def __call__(self, checkpoint, filename: str, metadata=None) -> None:
        try:
            super().__call__(checkpoint, filename, metadata)
        except (OSError, RuntimeError) as exc:  # torch.save reports short writes as RuntimeError
            raise OSError(f"cannot write checkpoint {Path(self.dirname) / filename} (is the disk "
                          f"full or read-only?): {exc}") from None


class BestModel:
    """Keeps ``nr_model_best.pth``: the model of the evaluated epoch with the highest held-out
    PSNR, and ``nr_model_best.json`` saying which; a resumed run goes on from the recorded best."""

    def __init__(self, out_dir: Path, model: torch.nn.Module):
        self.out_dir, self.model = out_dir, model
        record = read_best_record(out_dir)
        self.epoch, self.psnr = (record["epoch"], record["psnr"]) if record else (0, -math.inf)

    def update(self, epoch: int, psnr: float) -> bool:
        """Save the model (rank 0) when ``psnr`` beats the best so far; returns whether it did."""
        if not psnr > self.psnr:
            return False
        self.epoch, self.psnr = epoch, psnr
        if idist.get_rank() == 0:
            CheckpointSaver(self.out_dir)(self.model.state_dict(), BEST_MODEL_FILE)
            write_text(self.out_dir / BEST_RECORD_FILE,
                       json.dumps({"epoch": epoch, "psnr": psnr}) + "\n")
        return True


def read_best_record(out_dir: Path) -> dict | None:
    """``{"epoch", "psnr"}`` of ``nr_model_best.pth`` in ``out_dir``, None without one."""
    path = Path(out_dir) / BEST_RECORD_FILE
    if not (path.is_file() and (path.parent / BEST_MODEL_FILE).is_file()):
        return None
    try:
        record = json.loads(path.read_text())
        return {"epoch": int(record["epoch"]), "psnr": float(record["psnr"])}
    except (ValueError, KeyError, TypeError):
        raise NpcrError(f"{path}: not a best-model record (epoch, psnr)") from None


def resume_iterations(output_dir: Path, prefix: str = "nr") -> list[int]:
    """Iterations with a mid-epoch resume point in ``output_dir``, ascending."""
    found = (re.fullmatch(rf"{prefix}_resume_(\d+)\.pth", p.name)
             for p in output_dir.glob(f"{prefix}_resume_*"))
    return sorted(int(m.group(1)) for m in found if m)


def attach_checkpoints(out_dir: Path, model: torch.nn.Module, training_state: dict,
                       trainer: Engine, period: int, keep: int, resume_every: int,
                       prefix: str = "nr") -> None:
    """Save the epoch pair every ``period`` epochs (and at the end; the newest ``keep``, 0 = all)
    and the rolling resume point every ``resume_every`` iterations (0 = none), as the module
    docstring describes."""
    saver = CheckpointSaver(out_dir)
    epoch_of = lambda engine, _: engine.state.epoch  # noqa: E731
    every = Events.EPOCH_COMPLETED(every=period) | Events.COMPLETED
    for to_save, kind in (({f"{prefix}_model": model}, "model"), (training_state, "optimizer")):
        handler = Checkpoint(to_save, saver, filename_pattern=f"{prefix}_{kind}_{{global_step}}.pth",
                             n_saved=keep or None, global_step_transform=epoch_of)
        trainer.add_event_handler(every, handler)
    if resume_every > 0:
        resume_point = Checkpoint({f"{prefix}_model": model, **training_state}, saver,
                                  filename_pattern=f"{prefix}_resume_{{global_step}}.pth",
                                  n_saved=1,
                                  global_step_transform=lambda engine, _: engine.state.iteration)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=resume_every), resume_point)

        @trainer.on(Events.ITERATION_COMPLETED(every=resume_every))
        def drop_older_resume_points(engine: Engine) -> None:  # those of earlier, killed runs too
            if idist.get_rank() == 0:
                for it in resume_iterations(out_dir, prefix):
                    if it < engine.state.iteration:
                        (out_dir / f"{prefix}_resume_{it}.pth").unlink(missing_ok=True)

    @trainer.on(Events.COMPLETED)
    def drop_resume_points(_: Engine) -> None:
        if idist.get_rank() == 0:
            for it in resume_iterations(out_dir, prefix):
                (out_dir / f"{prefix}_resume_{it}.pth").unlink(missing_ok=True)


def resume(out_dir: Path, model: torch.nn.Module, training_state: dict, epoch_length: int,
           logger: logging.Logger, prefix: str = "nr") -> None:
    """Load the newest of the latest epoch pair and the latest resume point into ``model`` and
    ``training_state`` (the epoch pair wins a tie); nothing to load only logs it."""
    epochs = checkpoint_epochs(out_dir, need_optimizer=True, prefix=prefix)
    iterations = resume_iterations(out_dir, prefix)
    epoch_iteration = epochs[-1] * epoch_length if epochs else -1
    name = f"{prefix}_model"
    if iterations and iterations[-1] > epoch_iteration:
        path = out_dir / f"{prefix}_resume_{iterations[-1]}.pth"
        Checkpoint.load_objects({name: model, **training_state}, load_checkpoint(path))
        logger.info("resumed from iteration %d (%s)", iterations[-1], path)
    elif epochs:
        path = out_dir / f"{name}_{epochs[-1]}.pth"
        Checkpoint.load_objects({name: model}, load_checkpoint(path))
        Checkpoint.load_objects(training_state,
                                load_checkpoint(out_dir / f"{prefix}_optimizer_{epochs[-1]}.pth"))
        logger.info("resumed from epoch %d (%s)", epochs[-1], path)
    else:
        logger.info("RESUME: no checkpoint in %s, starting from scratch", out_dir)
