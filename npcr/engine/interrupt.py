"""Ctrl-C or SIGTERM during training: finish the iteration, save a resume point, stop cleanly."""
from __future__ import annotations

import contextlib
import logging
import signal
from pathlib import Path
from typing import Iterator

import torch
from ignite.engine import Engine, Events

from .checkpoints import RENDERER, CheckpointFiles, resume_point


@contextlib.contextmanager
def stop_cleanly_on_ctrl_c(trainer: Engine, out_dir: Path, model: torch.nn.Module,
                           training_state: dict, logger: logging.Logger,
                           files: CheckpointFiles = RENDERER) -> Iterator[None]:
    """Within the block, a first Ctrl-C (SIGINT) or SIGTERM (a scheduler or ``kill``) lets the
    running iteration complete, writes ``<prefix>_resume_<iteration>.pth`` and raises
    KeyboardInterrupt once the engine has stopped; RESUME then continues exactly from there. A
    second signal interrupts at once."""
    asked = {"stop": False}
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def on_stop_signal(signum, frame) -> None:
        if asked["stop"]:
            raise KeyboardInterrupt
        asked["stop"] = True
        logger.warning("%s: stopping after this iteration (again to stop at once)",
                       signal.Signals(signum).name)

    def stop_if_asked(engine: Engine) -> None:
        if asked["stop"]:
            engine.terminate(skip_completed=True)

    save = resume_point(out_dir, model, training_state, files, n_saved=None)

    def save_resume_point(engine: Engine) -> None:
        save(engine)
        logger.warning("stopped at iteration %d; saved %s: continue with RESUME True",
                       engine.state.iteration, out_dir / files.resume(engine.state.iteration))

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stop_if_asked)
    trainer.add_event_handler(Events.TERMINATE, save_resume_point)
    for s in signals:
        signal.signal(s, on_stop_signal)
    try:
        yield
    finally:
        for s in signals:
            signal.signal(s, previous[s])
    if asked["stop"]:
        raise KeyboardInterrupt
