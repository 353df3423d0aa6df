"""Optimizer and schedules built from the config (SOLVER.*): learning rates, depth layers."""
from __future__ import annotations

import math

import torch
from yacs.config import CfgNode

from ..modeling import PointRenderer
from ..modeling.poses import CameraPoses

def maybe_compile(cfg: CfgNode, model: PointRenderer) -> None:
    """Compile the U-Net in place when SOLVER.COMPILE asks (state-dict keys stay unchanged); the
    projector and the gather are left eager."""
    mode = cfg.SOLVER.COMPILE  # one of validate.COMPILE_MODES
    if mode != "off":
        model.unet.compile(mode=mode)


def build_optimizer(cfg: CfgNode, model: PointRenderer) -> torch.optim.Optimizer:
    """AdamW over what SOLVER.TRAIN trains (the rest is frozen): point, background and environment
    features at SOLVER.FEATURE_LR, the network at SOLVER.BASE_LR, photometric corrections (if any)
    at SOLVER.PHOTOMETRIC_LR. Fused kernels (CPU and CUDA: a step over the demo's ~60 tensors
    takes 0.7 ms instead of 5 on the CPU)."""
    stage = cfg.SOLVER.TRAIN
    features = [model.features, model.background] + \
        ([model.environment] if model.environment is not None else [])
    network = list(model.unet.parameters())
    train_features, train_network = stage in ("joint", "features"), stage in ("joint", "network")
    for p in features:
        p.requires_grad_(train_features)
    for p in network:
        p.requires_grad_(train_network)
    groups = []
    if train_features:
        groups.append({"params": features, "lr": cfg.SOLVER.FEATURE_LR, "weight_decay": 0.0})
    if train_network:
        groups.append({"params": network, "lr": cfg.SOLVER.BASE_LR,
                       "weight_decay": cfg.SOLVER.WEIGHT_DECAY})
    if model.photometric is not None:  # trained in every stage: it belongs to the photos
        groups.append({"params": list(model.photometric.parameters()),
                       "lr": cfg.SOLVER.PHOTOMETRIC_LR, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, fused=True)


def build_pose_optimizer(cfg: CfgNode, poses: CameraPoses) -> torch.optim.Optimizer:
    """Lazy Adam at SOLVER.POSE_LR for the pose corrections: a camera's moments change only in
    the steps that see it (its gradient is passed as sparse rows), so with one camera in a batch
    of many its momentum is not worn away by the steps of the others."""
    return torch.optim.SparseAdam(list(poses.parameters()), lr=cfg.SOLVER.POSE_LR)


def build_pose_lr_scheduler(cfg: CfgNode, pose_optimizer: torch.optim.Optimizer,
                            epoch_length: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Exponential decay of the pose rate over the refining steps (stepped only while the poses
    train, from SOLVER.POSE_START_EPOCH on): SOLVER.POSE_LR at the first, SOLVER.POSE_LR_END_FACTOR
    x that after the last. Large steps find the basin, small ones settle in it (Adam's steps are
    about the rate, whatever the gradient)."""
    end = cfg.SOLVER.POSE_LR_END_FACTOR  # in (0, 1]: validate.py
    steps = max(1, (cfg.SOLVER.MAX_EPOCHS - cfg.SOLVER.POSE_START_EPOCH) * epoch_length)
    return torch.optim.lr_scheduler.LambdaLR(pose_optimizer,
                                             lambda step: end ** min(step / steps, 1.0))


def build_lr_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer,
                       total_iterations: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-iteration schedule of SOLVER.LR_SCHEDULER: None for "none", cosine decay to
    SOLVER.LR_MIN_FACTOR x each group's start rate for "cosine"."""
    if cfg.SOLVER.LR_SCHEDULER == "none":  # else "cosine": validate.LR_SCHEDULERS
        return None
    low = cfg.SOLVER.LR_MIN_FACTOR
    total = max(1, total_iterations)

    def factor(it: int) -> float:
        return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * min(it, total) / total))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def layers_at_epoch(cfg: CfgNode, epoch_index: int) -> int:
    """Depth-peeling layers in use in training epoch ``epoch_index`` (0-based), per
    SOLVER.LAYER_SCHEDULE (checked by validate_config); MODEL.NUM_LAYERS when there is none."""
    schedule = [tuple(step) for step in cfg.SOLVER.LAYER_SCHEDULE]
    if not schedule:
        return cfg.MODEL.NUM_LAYERS
    return [n for e, n in schedule if e <= epoch_index][-1]
