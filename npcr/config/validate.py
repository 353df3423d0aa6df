"""One check of a whole merged config: every value's type, range, shape or choice, each failure one
line naming the key."""
from __future__ import annotations

import re
from typing import Any, Callable

from yacs.config import CfgNode

from ..errors import NpcrError

Check = Callable[[Any], bool]

# The choices of the config's string keys: checked here, once, for every tool (the code acting on
# them relies on it). Adding a key: its default and a comment in defaults.py, its rule in RULES
# below (a test fails for a key without one), and a line in the docs if users will set it.
TRAIN_STAGES = ("joint", "features", "network")
AMP_MODES = ("auto", "off", "fp16", "bf16")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
BLUR_POOLS = ("antialiased-cnns", "npcr")
LR_SCHEDULERS = ("none", "cosine")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def at_least(low: float, integer: bool = True) -> Check:
    return lambda v: (_int(v) if integer else _number(v)) and v >= low


def above(low: float) -> Check:
    return lambda v: _number(v) and v > low


def fraction(v: Any) -> bool:
    """In (0, 1]."""
    return _number(v) and 0 < v <= 1


def one_of(*choices: str) -> Check:
    return lambda v: v in choices


def pair(check: Check) -> Check:
    return lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(check(x) for x in v)


def ints_at_least(low: int, non_empty: bool = False) -> Check:
    return lambda v: (isinstance(v, (list, tuple)) and (len(v) > 0 or not non_empty)
                      and all(_int(x) and x >= low for x in v))


def _size(v: Any) -> bool:
    """[0, 0] (off) or two positive sides."""
    return pair(at_least(0))(v) and (tuple(v) == (0, 0) or min(v) > 0)


def _zoom(v: Any) -> bool:
    return pair(above(0))(v) and v[0] <= v[1]


def _schedule(v: Any) -> bool:
    if not isinstance(v, (list, tuple)) or not all(pair(at_least(0))(x) for x in v):
        return False
    epochs = [x[0] for x in v]
    return not v or (epochs[0] == 0 and epochs == sorted(set(epochs)) and all(x[1] >= 1 for x in v))


def _device(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None


RULES: dict[str, tuple[Check, str]] = {
    "OUTPUT_DIR": (lambda v: isinstance(v, str) and v.strip() != "",
                   "a folder (not empty: the current folder is no run's)"),
    "SEED": (at_least(0), "an integer >= 0"),
    "DEVICE": (_device, "auto, cpu, cuda or cuda:N"),
    "LOAD_EPOCH": (at_least(-1), "an epoch, or -1 for the latest"),
    "DATASETS.FORMAT": (one_of("auto", "native", "transforms", "colmap", "video"),
                        "auto, native, transforms, colmap or video"),
    "DATASETS.FRAME": (at_least(0), "a frame number >= 0"),
    "DATASETS.FRAMES": (ints_at_least(0), "a list of frame numbers >= 0"),
    "DATASETS.VAL_CAMERAS": (ints_at_least(0), "a list of camera ids >= 0"),
    "DATASETS.SELECT_CAMERAS": (ints_at_least(0), "a list of camera ids >= 0"),
    "DATASETS.FILL_HOLES": (lambda v: isinstance(v, bool), "true or false"),
    "DATASETS.CACHE_MB": (at_least(0), "MiB >= 0"),
    "INPUT.SIZE": (_size, "[0, 0] or [height, width] > 0"),
    "INPUT.CROP": (_size, "[0, 0] or [height, width] > 0"),
    "INPUT.ZOOM_RANGE": (_zoom, "[low, high] with 0 < low <= high"),
    "MODEL.FEATURE_DIM": (at_least(1), "an integer >= 1"),
    "MODEL.NUM_LAYERS": (at_least(1), "an integer >= 1"),
    "MODEL.MAX_SPLAT": (lambda v: at_least(1)(v) and v <= 1024, "an integer in [1, 1024]"),
    "MODEL.NEAR": (at_least(0, integer=False), "a depth >= 0 (0: from the points)"),
    "MODEL.FAR": (at_least(0, integer=False), "a depth >= 0 (0: from the points)"),
    "MODEL.UNET_CHANNELS": (ints_at_least(1, non_empty=True), "a non-empty list of channels >= 1"),
    "MODEL.UNET_INPUT_KERNEL": (lambda v: at_least(1)(v) and v % 2 == 1, "an odd integer >= 1"),
    "MODEL.BLUR_POOL": (one_of(*BLUR_POOLS), " or ".join(BLUR_POOLS)),
    "MODEL.SUPERSAMPLE": (lambda v: at_least(1)(v) and v <= 4, "an integer in [1, 4]"),
    "MODEL.POINT_LEVELS": (at_least(1), "an integer >= 1"),
    "MODEL.MAX_RENDER_SCALE": (lambda v: v == 0 or at_least(1, integer=False)(v),
                               "0 (off) or a factor >= 1"),
    "MODEL.VIEW_DIRECTION": (lambda v: isinstance(v, bool), "true or false"),
    "MODEL.SPLAT_SKIP": (lambda v: isinstance(v, bool), "true or false"),
    "MODEL.BACKEND": (one_of("auto", "torch", "cpu", "cuda"), "auto, torch, cpu or cuda"),
    "MODEL.ENVIRONMENT": (_size, "[0, 0] or [rows, columns] > 0"),
    "MODEL.INIT_FEATURES": (one_of("random", "colors"), "random or colors"),
    "MODEL.PHOTOMETRIC.EXPOSURE": (lambda v: isinstance(v, bool), "true or false"),
    "MODEL.PHOTOMETRIC.WHITE_BALANCE": (lambda v: isinstance(v, bool), "true or false"),
    "MODEL.PHOTOMETRIC.VIGNETTING": (lambda v: isinstance(v, bool), "true or false"),
    "SOLVER.PHOTOMETRIC_LR": (above(0), "a learning rate > 0"),
    "SOLVER.MAX_EPOCHS": (at_least(1), "an integer >= 1"),
    "SOLVER.TRAIN": (one_of(*TRAIN_STAGES), ", ".join(TRAIN_STAGES)),
    "SOLVER.BASE_LR": (above(0), "a learning rate > 0"),
    "SOLVER.FEATURE_LR": (above(0), "a learning rate > 0"),
    "SOLVER.WEIGHT_DECAY": (at_least(0, integer=False), "a number >= 0"),
    "SOLVER.EMA_MOMENTUM": (lambda v: _number(v) and 0 <= v < 1, "a momentum in [0, 1) (0: off)"),
    "SOLVER.POSE_LR": (at_least(0, integer=False), "a learning rate >= 0 (0: off)"),
    "SOLVER.POSE_START_EPOCH": (at_least(0), "an epoch >= 0"),
    "SOLVER.POSE_LR_END_FACTOR": (fraction, "a factor in (0, 1]"),
    "SOLVER.POSE_ALIGN_PERIOD": (at_least(0), "a number of epochs >= 0 (0: off)"),
    "SOLVER.POSE_ALIGN_START_EPOCH": (at_least(1), "an epoch >= 1"),
    "SOLVER.POSE_ALIGN_ITERATIONS": (at_least(1), "a number of steps >= 1"),
    "SOLVER.POSE_KEEP_RIG": (lambda v: isinstance(v, bool), "true or false"),
    "SOLVER.POSE_ALIGN_SCALES": (ints_at_least(1, non_empty=True),
                                 "a non-empty list of image scales >= 1 (1: full size)"),
    "SOLVER.AMP": (one_of(*AMP_MODES), ", ".join(AMP_MODES)),
    "SOLVER.COMPILE": (one_of(*COMPILE_MODES), ", ".join(COMPILE_MODES)),
    "SOLVER.LR_SCHEDULER": (one_of(*LR_SCHEDULERS), " or ".join(LR_SCHEDULERS)),
    "SOLVER.LR_MIN_FACTOR": (fraction, "a factor in (0, 1]"),
    "SOLVER.LAYER_SCHEDULE": (_schedule, "[[0, layers], [epoch, layers], ...] with rising epochs, layers >= 1"),
    "SOLVER.IMS_PER_BATCH": (at_least(1), "an integer >= 1"),
    "SOLVER.CHECKPOINT_PERIOD": (at_least(1), "an integer >= 1"),
    "SOLVER.CHECKPOINT_ITERS": (at_least(0), "an integer >= 0 (0: off)"),
    "SOLVER.KEEP_CHECKPOINTS": (at_least(0), "an integer >= 0 (0: all)"),
    "SOLVER.RGB_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "SOLVER.ALPHA_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "SOLVER.SSIM_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "SOLVER.VGG_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "SOLVER.NUM_WORKERS": (at_least(0), "an integer >= 0"),
    "TEST.EVAL_PERIOD": (at_least(1), "an integer >= 1"),
    "TEST.IMAGE_PERIOD": (at_least(0), "an integer >= 0"),
    "TEST.BASELINES": (lambda v: isinstance(v, bool), "true or false"),
    "REFINE.NUM_PREV": (at_least(1), "an integer >= 1"),
    "REFINE.CHANNELS": (ints_at_least(1, non_empty=True), "a non-empty list of channels >= 1"),
    "REFINE.MIN_CURRENT_WEIGHT": (fraction, "a weight in (0, 1]"),
    "REFINE.DEPTH_TOLERANCE": (above(0), "a fraction > 0"),
    "REFINE.SEQUENCE_LENGTH": (at_least(2), "an integer >= 2"),
    "REFINE.NEIGHBOURS": (at_least(1), "an integer >= 1"),
    "REFINE.STEP_RANGE": (lambda v: pair(above(0))(v) and v[0] <= v[1] <= 1,
                          "[low, high] with 0 < low <= high <= 1"),
    "REFINE.CONTENT_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "REFINE.TEMPORAL_WEIGHT": (at_least(0, integer=False), "a weight >= 0"),
    "REFINE.LR": (above(0), "a learning rate > 0"),
    "REFINE.MAX_EPOCHS": (at_least(1), "an integer >= 1"),
    "REFINE.CHECKPOINT_PERIOD": (at_least(1), "an integer >= 1"),
}


def _get(cfg: CfgNode, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def validate_config(cfg: CfgNode, source: str = "config") -> None:
    """Raise NpcrError naming the first key whose value is out of its range, shape or choices."""
    for key, (check, expected) in RULES.items():
        value = _get(cfg, key)
        if not check(value):
            raise NpcrError(f"{source}: {key} must be {expected}, got {value!r}")
    near, far = cfg.MODEL.NEAR, cfg.MODEL.FAR
    if near > 0 and far > 0 and near >= far:
        raise NpcrError(f"{source}: MODEL.NEAR must be below MODEL.FAR, got {near} and {far}")
    if cfg.MODEL.POINT_LEVELS > len(cfg.MODEL.UNET_CHANNELS):
        raise NpcrError(f"{source}: MODEL.POINT_LEVELS {cfg.MODEL.POINT_LEVELS} is more than the "
                        f"{len(cfg.MODEL.UNET_CHANNELS)} levels of MODEL.UNET_CHANNELS")
    if cfg.MODEL.SPLAT_SKIP and cfg.MODEL.FEATURE_DIM < 3:
        raise NpcrError(f"{source}: MODEL.SPLAT_SKIP reads colours from feature channels 0-2, "
                        f"MODEL.FEATURE_DIM {cfg.MODEL.FEATURE_DIM} has fewer")
    if cfg.DATASETS.FILL_HOLES and cfg.MODEL.SHARE_FEATURES:
        raise NpcrError(f"{source}: DATASETS.FILL_HOLES cannot go with MODEL.SHARE_FEATURES (the "
                        "frames' clouds would differ in point count)")
    schedule = cfg.SOLVER.LAYER_SCHEDULE
    if schedule and max(x[1] for x in schedule) > cfg.MODEL.NUM_LAYERS:
        raise NpcrError(f"{source}: SOLVER.LAYER_SCHEDULE asks for more layers than "
                        f"MODEL.NUM_LAYERS {cfg.MODEL.NUM_LAYERS}")
