"""Loading a trained model from its OUTPUT_DIR: config.yml, the scene, and a checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from yacs.config import CfgNode

from ..config import load_config
from ..errors import NpcrError, one_line
from ..modeling import FrameClouds, GraphedRenderer, PointRenderer
from .checkpoints import RENDERER, load_checkpoint, read_best_record
from .optim import layers_at_epoch
from .runtime import select_device
from .scene_data import SceneData, build_scene_model, load_scene


@dataclass
class Trained:
    cfg: CfgNode
    data: SceneData
    model: PointRenderer  # on ``device``, in eval mode
    clouds: FrameClouds  # the trained frames' points, on ``device``
    epoch: int
    device: torch.device
    # render(frames, K, cam_to_world, height, width, photos): the model's frames, replayed from
    # CUDA graphs on a GPU (npcr.modeling.graphed)
    render: GraphedRenderer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.render = GraphedRenderer(self.model, self.clouds)


def pick_checkpoint(output_dir: Path, requested: int | str | None,
                    load_epoch: int) -> tuple[int, Path]:
    """Epoch and model file of ``requested`` ("best": nr_model_best.pth), else LOAD_EPOCH when
    >= 0, else the latest saved epoch."""
    if requested == "best":
        record = read_best_record(output_dir)
        if record is None:
            raise NpcrError(f"{output_dir / RENDERER.best_model}: no best checkpoint (it is kept "
                            "while training evaluates held-out PSNR)")
        return record["epoch"], output_dir / RENDERER.best_model
    saved = RENDERER.epochs(output_dir)
    if not saved:
        raise NpcrError(f"{output_dir}: no {RENDERER.model('<epoch>')} checkpoint found")
    epoch = requested if requested is not None else (load_epoch if load_epoch >= 0 else saved[-1])
    if epoch not in saved:
        raise NpcrError(f"{output_dir / RENDERER.model(epoch)}: no checkpoint for epoch {epoch}; "
                        f"saved epochs: {saved}")
    return epoch, output_dir / RENDERER.model(epoch)


def load_trained(output_dir: str | Path, epoch: int | str | None = None) -> Trained:
    """The model of ``output_dir`` at ``epoch`` (see ``pick_checkpoint``), with its scene and
    config."""
    output_dir = Path(output_dir)
    cfg = load_config(output_dir / "config.yml")
    epoch, path = pick_checkpoint(output_dir, epoch, cfg.LOAD_EPOCH)
    data = load_scene(cfg)
    device = select_device(cfg)
    model = build_scene_model(cfg, data)
    state = load_checkpoint(path)
    saved = tuple(state.get("features", torch.empty(0)).shape)
    if len(saved) == 2 and saved[0] != model.features.shape[0]:
        raise NpcrError(f"{path}: checkpoint has features for {saved[0]} points, "
                        f"{cfg.DATASETS.ROOT} has {data.clouds.total}")
    if saved != tuple(model.features.shape):
        raise NpcrError(f"{path}: checkpoint has features of shape {saved}, the config "
                        f"(MODEL.FEATURE_DIM {cfg.MODEL.FEATURE_DIM}) asks for "
                        f"{tuple(model.features.shape)}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise NpcrError(f"{path}: checkpoint does not fit the configured model "
                        f"({one_line(exc)})") from None
    model.active_layers = layers_at_epoch(cfg, epoch - 1)  # as trained in the checkpoint's epoch
    return Trained(cfg, data, model.to(device).eval(), data.clouds.to(device), epoch, device)
