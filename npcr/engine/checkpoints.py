"""Training checkpoints: NPCR's per-epoch pair and a rolling mid-epoch resume point.

- ``nr_model_<epoch>.pth`` (the model) and ``nr_optimizer_<epoch>.pth`` (optimizer, trainer,
  scheduler, scaler), as NPCR names them, every SOLVER.CHECKPOINT_PERIOD epochs and at the end;
- ``nr_resume_<iteration>.pth`` (all of the above in one file) every SOLVER.CHECKPOINT_ITERS
  iterations, so a run killed mid-epoch loses at most that many iterations. Only the newest is kept,
  and none is left once training completes.

Files are written atomically (temp file, then rename) by ignite's DiskSaver; RESUME continues from
the newest point. With the seed-driven sampler (npcr.data.sampling) the resumed run ends with the
same weights as an uninterrupted one.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver
from yacs.config import CfgNode

from .common import MODEL_FILE, OPTIMIZER_FILE, checkpoint_epochs, load_checkpoint

RESUME_FILE = "nr_resume_{}.pth"


def resume_iterations(output_dir: Path) -> list[int]:
    """Iterations with a mid-epoch resume point in ``output_dir``, ascending."""
    found = (re.fullmatch(r"nr_resume_(\d+)\.pth", p.name) for p in output_dir.glob("nr_resume_*"))
    return sorted(int(m.group(1)) for m in found if m)


def attach_checkpoints(cfg: CfgNode, out_dir: Path, model: torch.nn.Module, training_state: dict,
                       trainer: Engine) -> None:
    """Save the epoch pair and the rolling resume point as the module docstring describes."""
    saver = DiskSaver(str(out_dir), atomic=True, require_empty=False)
    epoch_of = lambda engine, _: engine.state.epoch  # noqa: E731
    every = Events.EPOCH_COMPLETED(every=cfg.SOLVER.CHECKPOINT_PERIOD) | Events.COMPLETED
    for to_save, pattern in (({"nr_model": model}, "nr_model_{global_step}.pth"),
                             (training_state, "nr_optimizer_{global_step}.pth")):
        handler = Checkpoint(to_save, saver, filename_pattern=pattern,
                             n_saved=cfg.SOLVER.KEEP_CHECKPOINTS or None,
                             global_step_transform=epoch_of)
        trainer.add_event_handler(every, handler)
    if cfg.SOLVER.CHECKPOINT_ITERS > 0:
        resume_point = Checkpoint({"nr_model": model, **training_state}, saver,
                                  filename_pattern="nr_resume_{global_step}.pth", n_saved=1,
                                  global_step_transform=lambda engine, _: engine.state.iteration)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=cfg.SOLVER.CHECKPOINT_ITERS),
                                  resume_point)

    @trainer.on(Events.COMPLETED)
    def drop_resume_points(_: Engine) -> None:
        if idist.get_rank() == 0:
            for it in resume_iterations(out_dir):
                (out_dir / RESUME_FILE.format(it)).unlink(missing_ok=True)


def resume(out_dir: Path, model: torch.nn.Module, training_state: dict, epoch_length: int,
           logger: logging.Logger) -> None:
    """Load the newest of the latest epoch pair and the latest resume point into ``model`` and
    ``training_state`` (the epoch pair wins a tie); nothing to load only logs it."""
    epochs = checkpoint_epochs(out_dir, need_optimizer=True)
    iterations = resume_iterations(out_dir)
    epoch_iteration = epochs[-1] * epoch_length if epochs else -1
    if iterations and iterations[-1] > epoch_iteration:
        path = out_dir / RESUME_FILE.format(iterations[-1])
        Checkpoint.load_objects({"nr_model": model, **training_state}, load_checkpoint(path))
        logger.info("resumed from iteration %d (%s)", iterations[-1], path)
    elif epochs:
        epoch = epochs[-1]
        Checkpoint.load_objects({"nr_model": model},
                                load_checkpoint(out_dir / MODEL_FILE.format(epoch)))
        Checkpoint.load_objects(training_state,
                                load_checkpoint(out_dir / OPTIMIZER_FILE.format(epoch)))
        logger.info("resumed from epoch %d (%s)", epoch, out_dir / MODEL_FILE.format(epoch))
    else:
        logger.info("RESUME: no checkpoint in %s, starting from scratch", out_dir)
