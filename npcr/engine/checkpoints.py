"""Training checkpoints: NPCR's per-epoch pair and a rolling mid-epoch resume point.

- ``nr_model_<epoch>.pth`` (the model) and ``nr_optimizer_<epoch>.pth`` (optimizer, trainer,
  scheduler, scaler), as NPCR names them, every SOLVER.CHECKPOINT_PERIOD epochs and at the end;
- ``nr_model_best.pth`` (the model) and ``nr_model_best.json`` (its epoch and held-out PSNR): the
  model of the epoch with the best held-out PSNR so far, replaced atomically when one beats it;
- ``nr_resume_<iteration>.pth`` (all of the above in one file) every SOLVER.CHECKPOINT_ITERS
  iterations, so a run killed mid-epoch loses at most that many iterations. Only the newest is kept
  (older ones, of earlier runs too, are removed), and none is left once training completes.

The temporal refine net's checkpoints are the same with prefix "refine" instead of "nr"
(``TEMPORAL``); every checkpoint file name is made here (``CheckpointFiles``).
Files are written atomically (temp file, then rename) by ignite's DiskSaver; RESUME continues from
the newest point. With the seed-driven sampler (npcr.data.sampling) the resumed run ends with the
same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import math
import re
from typing import Iterator
from dataclasses import dataclass
from pathlib import Path

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from ..errors import NpcrError, one_line
from ..fileio import atomic_path, write_text


@dataclass(frozen=True)
class CheckpointFiles:
    """The checkpoint file names of one network in its folder: ``<prefix>_model_<epoch>.pth``,
    ``<prefix>_optimizer_<epoch>.pth``, ``<prefix>_resume_<iteration>.pth``,
    ``<prefix>_model_best.pth`` and its record ``<prefix>_model_best.json``."""
    prefix: str

    @property
    def model_key(self) -> str:
        """The model's key in a resume point (ignite's ``to_save`` name)."""
        return f"{self.prefix}_model"

    def model(self, epoch: int | str) -> str:
        return f"{self.prefix}_model_{epoch}.pth"

    def optimizer(self, epoch: int | str) -> str:
        return f"{self.prefix}_optimizer_{epoch}.pth"

    def resume(self, iteration: int | str) -> str:
        return f"{self.prefix}_resume_{iteration}.pth"

    @property
    def best_model(self) -> str:
        return self.model("best")

    @property
    def best_record(self) -> str:
        return f"{self.prefix}_model_best.json"

    def run_files(self, folder: Path) -> list[Path]:
        """The files in ``folder`` that a training run saves (what --overwrite removes): numbered
        models, optimizers and resume points and the best model with its record, by their exact
        names (a user's ``nr_model_2 (copy).pth`` is not one)."""
        folder = Path(folder)
        names = [self.model(e) for e in _numbers(folder, self.model)] + \
            [self.optimizer(e) for e in _numbers(folder, self.optimizer)] + \
            [self.resume(i) for i in _numbers(folder, self.resume)] + \
            [self.best_model, self.best_record]
        return [folder / n for n in names if (folder / n).is_file()]

    def epochs(self, folder: Path, need_optimizer: bool = False) -> list[int]:
        """Epochs with a saved model (and optimizer, if asked) in ``folder``, ascending."""
        return sorted(e for e in _numbers(folder, self.model)
                      if not need_optimizer or (Path(folder) / self.optimizer(e)).is_file())

    def resume_iterations(self, folder: Path) -> list[int]:
        """Iterations with a mid-epoch resume point in ``folder``, ascending."""
        return sorted(_numbers(folder, self.resume))


RENDERER = CheckpointFiles("nr")
TEMPORAL = CheckpointFiles("refine")


def _numbers(folder: Path, name) -> list[int]:
    """The numbers n for which the file ``name(n)`` is in ``folder``."""
    pattern = re.escape(name("@")).replace("@", r"(\d+)")
    found = (re.fullmatch(pattern, p.name) for p in Path(folder).glob(name("*")))
    return [int(m.group(1)) for m in found if m]


def load_checkpoint(path: Path) -> dict:
    """``torch.load`` with ``weights_only=True``; a clear error for missing or corrupt files."""
    if not path.is_file():
        raise NpcrError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise NpcrError(f"{path}: cannot load checkpoint ({type(exc).__name__}: "
                        f"{one_line(exc)})") from None
    for name, tensor in _tensors(state):
        bad = int((~torch.isfinite(tensor)).sum()) if tensor.is_floating_point() else 0
        if bad:
            raise NpcrError(f"{path}: {bad} non-finite values (NaN or inf) in {name}: the training "
                            f"diverged by then; use an earlier epoch (--epoch), or train again "
                            f"with a lower SOLVER.BASE_LR")
    return state


def _tensors(state, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in a nest of dicts and lists, with its dotted name."""
    if torch.is_tensor(state):
        yield prefix or "the checkpoint", state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from _tensors(value, f"{prefix}[{i}]")


class CheckpointSaver(DiskSaver):
    """ignite's DiskSaver writing each file as npcr's writers do (``fileio.atomic_path``: a
    temporary file named for npcr beside it, then renamed, so that what a killed save leaves is
    told apart from a user's files), on rank 0; failures (a full disk, no permission) name the
    file, and a failed write's temporary file is removed."""

    def __init__(self, dirname: Path):
        super().__init__(str(dirname), atomic=False, require_empty=False)

    def __call__(self, checkpoint, filename: str, metadata=None) -> None:
        if idist.get_rank() != self.save_on_rank:
            return
        path = Path(self.dirname) / filename
        try:
            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)
        except (OSError, RuntimeError) as exc:  # torch.save reports short writes as RuntimeError
            raise OSError(f"cannot write checkpoint {path} (is the disk full or read-only?): "
                          f"{exc}") from None


class BestModel:
    """Keeps ``nr_model_best.pth``: the model of the evaluated epoch with the highest PSNR on the
    cameras that choose it (DATASETS.SELECT_CAMERAS, else the held-out ones), and
    ``nr_model_best.json`` saying which (``epoch``, that ``psnr``, and ``heldout_psnr`` on
    DATASETS.VAL_CAMERAS); a resumed run goes on from the recorded best."""

    def __init__(self, out_dir: Path, model: torch.nn.Module):
        self.out_dir, self.model = out_dir, model
        record = read_best_record(out_dir)
        self.epoch, self.psnr = (record["epoch"], record["psnr"]) if record else (0, -math.inf)

    def update(self, epoch: int, psnr: float, heldout_psnr: float) -> bool:
        """Save the model (rank 0) when ``psnr`` beats the best so far; returns whether it did."""
        if not psnr > self.psnr:
            return False
        self.epoch, self.psnr = epoch, psnr
        if idist.get_rank() == 0:
            CheckpointSaver(self.out_dir)(self.model.state_dict(), RENDERER.best_model)
            write_text(self.out_dir / RENDERER.best_record, json.dumps(
                {"epoch": epoch, "psnr": psnr, "heldout_psnr": heldout_psnr}) + "\n")
        return True


def read_best_record(out_dir: Path) -> dict | None:
    """``{"epoch", "psnr", "heldout_psnr"}`` of ``nr_model_best.pth`` in ``out_dir``, None without
    one (a record without ``heldout_psnr`` was chosen on the held-out cameras: their PSNR)."""
    path = Path(out_dir) / RENDERER.best_record
    if not (path.is_file() and (path.parent / RENDERER.best_model).is_file()):
        return None
    try:
        record = json.loads(path.read_text())
        return {"epoch": int(record["epoch"]), "psnr": float(record["psnr"]),
                "heldout_psnr": float(record.get("heldout_psnr", record["psnr"]))}
    except (ValueError, KeyError, TypeError):
        raise NpcrError(f"{path}: not a best-model record (epoch, psnr)") from None


def resume_point(out_dir: Path, model: torch.nn.Module, training_state: dict,
                 files: CheckpointFiles, n_saved: int | None = 1) -> Checkpoint:
    """The handler that writes ``<prefix>_resume_<iteration>.pth``: the model and the whole
    training state in one file (what ``resume`` loads)."""
    return Checkpoint({files.model_key: model, **training_state}, CheckpointSaver(out_dir),
                      filename_pattern=files.resume("{global_step}"), n_saved=n_saved,
                      global_step_transform=lambda engine, _: engine.state.iteration)


def attach_checkpoints(out_dir: Path, model: torch.nn.Module, training_state: dict,
                       trainer: Engine, period: int, keep: int, resume_every: int,
                       files: CheckpointFiles = RENDERER) -> None:
    """Save the epoch pair every ``period`` epochs (and at the end; the newest ``keep``, 0 = all)
    and the rolling resume point every ``resume_every`` iterations (0 = none), as the module
    docstring describes."""
    saver = CheckpointSaver(out_dir)
    epoch_of = lambda engine, _: engine.state.epoch  # noqa: E731
    every = Events.EPOCH_COMPLETED(every=period) | Events.COMPLETED
    for to_save, name in (({files.model_key: model}, files.model),
                          (training_state, files.optimizer)):
        handler = Checkpoint(to_save, saver, filename_pattern=name("{global_step}"),
                             n_saved=keep or None, global_step_transform=epoch_of)
        trainer.add_event_handler(every, handler)

    def drop_resume_points(before: float) -> None:  # those of earlier, killed runs too
        if idist.get_rank() == 0:
            for it in files.resume_iterations(out_dir):
                if it < before:
                    (out_dir / files.resume(it)).unlink(missing_ok=True)

    if resume_every > 0:
        every_few = Events.ITERATION_COMPLETED(every=resume_every)
        trainer.add_event_handler(every_few, resume_point(out_dir, model, training_state, files))
        trainer.add_event_handler(every_few, lambda engine: drop_resume_points(
            engine.state.iteration))
    trainer.add_event_handler(Events.COMPLETED, lambda _: drop_resume_points(math.inf))


def load_into(objects: dict, path: Path) -> None:
    """Load the checkpoint ``path`` into ``objects`` (ignite ``to_load``); one made for another
    config (other objects, other shapes) is a clear error naming the file."""
    try:
        Checkpoint.load_objects(objects, load_checkpoint(path))
    except (KeyError, RuntimeError, ValueError) as exc:
        raise NpcrError(f"{path}: does not fit this run's config ({type(exc).__name__}: "
                        f"{one_line(exc)}); resume with the config it was trained with, or train "
                        "afresh without RESUME") from None


def resume(out_dir: Path, model: torch.nn.Module, training_state: dict, epoch_length: int,
           logger: logging.Logger, files: CheckpointFiles = RENDERER) -> None:
    """Load the newest of the latest epoch pair and the latest resume point into ``model`` and
    ``training_state`` (the epoch pair wins a tie); nothing to load only logs it."""
    epochs = files.epochs(out_dir, need_optimizer=True)
    iterations = files.resume_iterations(out_dir)
    epoch_iteration = epochs[-1] * epoch_length if epochs else -1
    if iterations and iterations[-1] > epoch_iteration:
        path = out_dir / files.resume(iterations[-1])
        load_into({files.model_key: model, **training_state}, path)
        logger.info("resumed from iteration %d (%s)", iterations[-1], path)
    elif epochs:
        path = out_dir / files.model(epochs[-1])
        load_into({files.model_key: model}, path)
        load_into(training_state, out_dir / files.optimizer(epochs[-1]))
        logger.info("resumed from epoch %d (%s)", epochs[-1], path)
    else:
        logger.info("RESUME: no checkpoint in %s, starting from scratch", out_dir)
