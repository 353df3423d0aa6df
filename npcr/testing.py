"""Helpers for npcr's tests (and anyone testing code built on npcr): small cameras and running the
command-line tools in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Callable

import numpy as np
import torch

from .geometry import look_at


def camera(eye=(0.0, 0.0, -5.0), target=(0.0, 0.0, 0.0), up=(0.0, -1.0, 0.0)) -> torch.Tensor:
    """(4, 4) float32 camera-to-world looking from ``eye`` at ``target``."""
    return torch.tensor(look_at(np.array(eye), np.array(target), np.array(up)), dtype=torch.float32)


def intrinsics(f: float = 10.0, cx: float = 4.0, cy: float = 4.0) -> torch.Tensor:
    """(3, 3) float32 pinhole intrinsics without skew."""
    return torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]], dtype=torch.float32)


def run_tool(*args, ok: bool = True, one_thread: bool = True, env: dict | None = None,
             preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """Run ``python ARGS...`` (a tool script and its arguments; paths may be Path objects),
    capturing its text output; ``one_thread`` sets OMP_NUM_THREADS=1 (bitwise-repeatable
    training), ``env`` adds variables; with ``ok`` assert that it exited 0."""
    env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if one_thread else {}), **(env or {})}
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env=env, preexec_fn=preexec_fn)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc
