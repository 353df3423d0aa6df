"""What every engine run sets up: the device, seeds, the log, whether a render fits in memory."""
from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import numpy as np
import torch
from yacs.config import CfgNode

from ..errors import NpcrError


def select_device(cfg: CfgNode) -> torch.device:
    """``cfg.DEVICE`` as a torch device; "auto" picks CUDA when available."""
    if cfg.DEVICE == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.DEVICE == "cuda" and not torch.cuda.is_available():
        raise NpcrError("DEVICE cuda requested but no CUDA device is available")
    return torch.device(cfg.DEVICE)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_logger(output_dir: Path | None = None) -> logging.Logger:
    """The ``npcr`` logger, to stdout and (when given) ``output_dir/log.txt``."""
    # ignite's engines log a failing run's exception; the tools report it once themselves.
    logging.getLogger("ignite").addHandler(logging.NullHandler())
    logger = logging.getLogger("npcr")
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(output_dir / "log.txt"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device`` (CUDA's free memory, else Linux's MemAvailable);
    None where it cannot be read."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_render_fits(cfg: CfgNode, height: int, width: int, device: torch.device) -> None:
    """Refuse a render size that cannot fit, before the system's out-of-memory killer ends the
    process. The estimate is a lower bound (gathered features, the U-Net's first level, the
    projector's layers: about half of the peak measured on the CPU), so what fits is never
    refused."""
    per_pixel = 4 * (cfg.MODEL.NUM_LAYERS * cfg.MODEL.FEATURE_DIM + 4 * cfg.MODEL.UNET_CHANNELS[0]) \
        + 12 * cfg.MODEL.NUM_LAYERS
    need, free = per_pixel * height * width, available_memory(device)
    if free is not None and need > free:
        raise NpcrError(f"a {width}x{height} frame needs at least {need / 2**30:.1f} GiB, {device} "
                        f"has {free / 2**30:.1f} GiB free: render smaller (--size)")
