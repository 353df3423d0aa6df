"""Training the temporal refine net on a frozen renderer (ignite engine, checkpoints, resume,
TensorBoard), and its held-out check: does refining cost PSNR?"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from ignite.engine import Engine, Events
from ignite.handlers import TensorboardLogger
from torch.utils.data import DataLoader
from yacs.config import CfgNode

from ..data import (CameraImageDataset, PhotoCache, ResumableSampler, measured_cameras,
                    split_cameras)
from ..config import save_config
from ..engine.checkpoints import TEMPORAL, attach_checkpoints, resume
from ..engine.runtime import seed_everything, setup_logger
from ..engine.rundir import check_run_dir, clear_run, output_lock, remove_temporary_files
from ..engine.trained import Trained
from ..engine.trainer import attach_resumable_epochs, run_engine
from ..errors import NpcrError
from ..fileio import write_text
from ..geometry import Cameras
from ..metrics import psnr
from .net import TemporalRefiner, build_refiner
from .sequences import ApproachSequences, nearest_cameras
from .stream import View, refine_view, warp_into

REFINE_DIR = "refine"


def render_sequences(trained: Trained, batch: dict) -> list[View]:
    """The frozen renderer's RGBA and layer-0 depth of each time step of a batch of sequences
    (``K`` (B, T, 3, 3), ``cam_to_world`` (B, T, 4, 4)), as T views of batch B."""
    K, c2w = batch["K"].to(trained.device), batch["cam_to_world"].to(trained.device)
    b, t = K.shape[:2]
    h, w = batch["image"].shape[-2:]
    frames = [int(f) for f in batch["frame"] for _ in range(t)]
    with torch.no_grad():
        out = trained.model(trained.clouds, frames, Cameras(K.flatten(0, 1), c2w.flatten(0, 1), h, w))
    rgba = torch.cat([out["rgb"], out["alpha"]], 1).unflatten(0, (b, t))
    depth = out["depth"][:, :1].unflatten(0, (b, t))
    return [View(rgba[:, i], depth[:, i], Cameras(K[:, i], c2w[:, i], h, w)) for i in range(t)]


def refine_sequence(refiner: TemporalRefiner, views: list[View], tolerance: float
                    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Refined RGBA of each view in order (each seeing the earlier refined ones), the mean L1
    between refined and raw frames, and the mean masked L1 between each refined frame and the
    previous refined frame warped into it."""
    outs: list[View] = []
    temporal, content = [], []
    for view in views:
        out = refine_view(refiner, view, outs, tolerance)
        content.append(F.l1_loss(out, view.rgba))
        if outs:
            warped, valid = warp_into(outs[-1], View(out, view.depth, view.cameras), tolerance)
            diff = ((out - warped).abs() * valid).sum()
            temporal.append(diff / (4 * valid.sum()).clamp_min(1.0))
        outs.append(View(out, view.depth, view.cameras))
    zero = views[0].rgba.new_zeros(())
    return ([o.rgba for o in outs], torch.stack(content).mean(),
            torch.stack(temporal).mean() if temporal else zero)


@torch.no_grad()
def heldout_psnr(trained: Trained, refiner: TemporalRefiner, sequences: ApproachSequences,
                 tolerance: float) -> tuple[float, float]:
    """Mean RGB PSNR over ``sequences`` (fixed ones ending at held-out cameras) of the raw render
    and of the refined frame at the end of each sequence (after SEQUENCE_LENGTH - 1 refined
    frames: drift away from the renders costs PSNR here)."""
    refiner.eval()
    raw, refined = [], []
    for i in range(len(sequences)):
        item = sequences[(i, 0)]
        batch = {k: (v[None] if torch.is_tensor(v) else torch.tensor([v])) for k, v in item.items()}
        views = render_sequences(trained, batch)
        outs, _, _ = refine_sequence(refiner, views, tolerance)
        truth = batch["image"].to(trained.device)
        raw.append(psnr(views[-1].rgba[:, :3].clamp(0, 1), truth))
        refined.append(psnr(outs[-1][:, :3], truth))
    return sum(raw) / len(raw), sum(refined) / len(refined)


def run_refine_training(cfg: CfgNode, trained: Trained, overwrite: bool = False) -> dict:
    """Train the refine net of ``cfg.REFINE`` on sequences approaching the training cameras of
    ``trained`` (frozen); checkpoints, config.yml and logs go to OUTPUT_DIR/refine, which is
    locked meanwhile and held to the renderer's rule (npcr.engine.rundir): an earlier refine run
    there is continued with RESUME, replaced with ``overwrite``, else refused. Returns held-out
    PSNR of raw and refined frames. Built from the renderer's training pieces
    (npcr.engine.trainer): resumable epochs, checkpoints, resume, a clean stop on Ctrl-C."""
    out_dir = Path(cfg.OUTPUT_DIR) / REFINE_DIR
    with output_lock(out_dir):
        check_run_dir(out_dir, cfg, overwrite, TEMPORAL)
        remove_temporary_files(out_dir)
        if overwrite:
            clear_run(out_dir, TEMPORAL)
        save_config(cfg, out_dir / "config.yml")
        return _train_refiner(cfg, trained, out_dir)


def _train_refiner(cfg: CfgNode, trained: Trained, out_dir: Path) -> dict:
    """``run_refine_training``'s run, under the lock."""
    logger = setup_logger(out_dir)
    seed_everything(cfg.SEED)
    loader, val_set = build_sequence_dataflow(cfg, trained)
    refiner = build_refiner(cfg).to(trained.device)
    optimizer = torch.optim.AdamW(refiner.parameters(), lr=cfg.REFINE.LR,
                                  fused=trained.device.type == "cuda")
    trainer = create_refine_trainer(cfg, trained, refiner, optimizer)
    to_save = {"optimizer": optimizer, "trainer": trainer}
    if cfg.RESUME:
        resume(out_dir, refiner, to_save, len(loader), logger, TEMPORAL)
    attach_checkpoints(out_dir, refiner, to_save, trainer, cfg.REFINE.CHECKPOINT_PERIOD, 0,
                       cfg.SOLVER.CHECKPOINT_ITERS, TEMPORAL)
    attach_resumable_epochs(trainer, loader.sampler)
    tb = TensorboardLogger(log_dir=str(out_dir / "tb"))
    tb.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train",
                             output_transform=lambda o: o)
    tolerance = cfg.REFINE.DEPTH_TOLERANCE
    history: dict = {}

    @trainer.on(Events.EPOCH_COMPLETED)
    def evaluate(engine: Engine) -> None:
        raw, refined = heldout_psnr(trained, refiner, val_set, tolerance)
        history[engine.state.epoch] = refined
        tb.writer.add_scalars("val/psnr", {"raw": raw, "refined": refined}, engine.state.epoch)
        logger.info("refine epoch %d: loss %.4f (temporal %.4f), held-out PSNR raw %.2f dB, "
                    "refined %.2f dB", engine.state.epoch, engine.state.output["loss"],
                    engine.state.output["temporal_l1"], raw, refined)

    try:
        run_engine(trainer, loader, cfg.REFINE.MAX_EPOCHS, logger, out_dir, refiner, to_save,
                   TEMPORAL)
    finally:
        tb.close()
    raw, refined = heldout_psnr(trained, refiner, val_set, tolerance)
    result = {"epoch": trainer.state.epoch, "heldout_psnr_raw": raw,
              "heldout_psnr_refined": refined, "heldout_psnr_by_epoch": history}
    write_text(out_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
    logger.info("refine: held-out PSNR raw %.2f dB, refined %.2f dB", raw, refined)
    return result


def build_sequence_dataflow(cfg: CfgNode, trained: Trained
                            ) -> tuple[DataLoader, ApproachSequences]:
    """Training sequences (REFINE.SEQUENCE_LENGTH cameras approaching a training camera from one
    of its REFINE.NEIGHBOURS nearest, steps drawn from REFINE.STEP_RANGE), one a batch from a
    resumable sampler; and fixed held-out sequences ending at the held-out cameras."""
    r, scene = cfg.REFINE, trained.data.scene
    if r.SEQUENCE_LENGTH < 2:
        raise NpcrError(f"REFINE.SEQUENCE_LENGTH {r.SEQUENCE_LENGTH}: need at least 2 frames")
    train_ids, val_ids, _ = split_cameras(scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS),
                                          list(cfg.DATASETS.SELECT_CAMERAS))
    frame, size = trained.data.frames[0], tuple(cfg.INPUT.SIZE)
    neighbours = nearest_cameras(scene.cam_to_world, train_ids + val_ids, train_ids, r.NEIGHBOURS)
    photos = PhotoCache(scene, cfg.DATASETS.CACHE_MB)
    train_set = ApproachSequences(CameraImageDataset(scene, train_ids, frame, size, photos=photos),
                                  neighbours, r.SEQUENCE_LENGTH, tuple(r.STEP_RANGE))
    mid = sum(r.STEP_RANGE) / 2
    measured = measured_cameras(scene.num_cameras, val_ids, list(cfg.DATASETS.SELECT_CAMERAS))
    val_set = ApproachSequences(CameraImageDataset(scene, measured, frame, size,
                                                   photos=photos),
                                {c: ns[:1] for c, ns in neighbours.items()}, r.SEQUENCE_LENGTH,
                                (mid, mid))
    loader = DataLoader(train_set, batch_size=1, sampler=ResumableSampler(len(train_set), cfg.SEED))
    return loader, val_set


def create_refine_trainer(cfg: CfgNode, trained: Trained, refiner: TemporalRefiner,
                          optimizer: torch.optim.Optimizer) -> Engine:
    """Engine whose step renders a sequence with the frozen renderer, refines it in order and
    takes one step on: L1 of the last refined frame to its photo + REFINE.CONTENT_WEIGHT x L1
    to the raw renders + REFINE.TEMPORAL_WEIGHT x the warping error between refined frames."""
    r, device = cfg.REFINE, trained.device

    def train_step(engine: Engine, batch: dict) -> dict:
        refiner.train()
        views = render_sequences(trained, batch)
        outs, content, temporal = refine_sequence(refiner, views, r.DEPTH_TOLERANCE)
        target = torch.cat([batch["image"], batch["alpha"]], 1).to(device)
        recon = F.l1_loss(outs[-1], target)
        loss = recon + r.CONTENT_WEIGHT * content + r.TEMPORAL_WEIGHT * temporal
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "recon_l1": recon.item(), "content_l1": content.item(),
                "temporal_l1": temporal.item()}

    return Engine(train_step)
