"""Training with pytorch-ignite: a named ``train_step``, held-out PSNR each epoch, checkpoints, resume."""
from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import EMAHandler, ProgressBar, TensorboardLogger
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, default_collate
from yacs.config import CfgNode

from ..config import save_config
from ..data import (CameraImageDataset, PhotoCache, ResumableSampler, SeededItems,
                    item_cameras, measured_cameras, split_cameras, write_cam_poses, write_intrinsics)
from ..errors import NpcrError
from ..fileio import write_text
from ..metrics import MaskedPSNR, MaskedSSIM
from ..modeling import FrameClouds, PointRenderer
from ..modeling.poses import CameraPoses, align_poses, without_rig_motion
from .averaging import attach_weight_average, build_weight_average
from .baselines import baseline_psnrs
from .checkpoints import (RENDERER, BestModel, CheckpointFiles, attach_checkpoints,
                          read_best_record, resume)
from .interrupt import stop_cleanly_on_ctrl_c
from .losses import ImageLoss
from .monitor import attach_monitoring, peak_memory_mib
from .optim import (build_lr_scheduler, build_optimizer, build_pose_lr_scheduler,
                    build_pose_optimizer, layers_at_epoch, maybe_compile)
from .rundir import check_run_dir, clear_run, output_lock, remove_temporary_files
from .runtime import seed_everything, select_device, setup_logger
from .scene_data import SceneData, build_scene_model, check_points_in_range, load_scene


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def amp_dtype(cfg: CfgNode, device: torch.device) -> torch.dtype | None:
    """The autocast dtype SOLVER.AMP (one of validate.AMP_MODES) asks for: "auto" is float16 on
    CUDA and off on the CPU."""
    choice = cfg.SOLVER.AMP
    table = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16,
             "auto": torch.float16 if device.type == "cuda" else None}
    if table[choice] is torch.float16 and device.type != "cuda":
        raise NpcrError("SOLVER.AMP fp16 needs a CUDA device; use bf16 on the CPU")
    return table[choice]


def create_trainer(cfg: CfgNode, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   clouds: FrameClouds, device: torch.device, scaler: torch.amp.GradScaler,
                   poses: CameraPoses | None = None,
                   pose_optimizer: torch.optim.Optimizer | None = None) -> Engine:
    """Engine whose step renders a batch of cameras (under autocast when SOLVER.AMP asks) and takes
    one optimizer step on ImageLoss; ``scaler`` scales float16 gradients (disabled otherwise).
    With ``poses`` (trainable when their parameter requires grad; stepped by ``pose_optimizer``)
    the cameras are corrected first."""
    criterion = ImageLoss(cfg, device)
    dtype = amp_dtype(cfg, device)

    def train_step(engine: Engine, batch: dict) -> dict:
        model.train()
        batch = _to(batch, device)
        cameras = item_cameras(batch)
        refining = poses is not None and poses.delta.requires_grad
        if refining:
            cameras = cameras.with_poses(poses(batch["camera_id"], cameras.cam_to_world))
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(clouds, batch["frame"].tolist(), cameras, photos=batch.get("camera_id"))
        terms = criterion({k: v.float() for k, v in out.items()}, batch)
        optimizer.zero_grad(set_to_none=True)
        if refining:
            pose_optimizer.zero_grad(set_to_none=True)
        scaler.scale(terms["loss"]).backward()
        if refining:
            grad = poses.delta.grad
            if idist.get_world_size() > 1:  # the poses live outside DDP: average here
                grad = idist.all_reduce(grad) / idist.get_world_size()
            poses.delta.grad = grad.to_sparse(1)  # only the batch's cameras (lazy Adam)
            scaler.step(pose_optimizer)
        scaler.step(optimizer)
        scaler.update()
        return {name: value.item() for name, value in terms.items()}

    return Engine(train_step)


def create_evaluator(model: PointRenderer, clouds: FrameClouds, device: torch.device) -> Engine:
    """Engine computing the mean per-image RGB PSNR and SSIM of the model on a loader over each
    photo's valid pixels (npcr.metrics: the figures the baselines and evaluate.py report)."""

    @torch.no_grad()
    def eval_step(engine: Engine, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        model.eval()
        batch = _to(batch, device)
        out = model(clouds, batch["frame"].tolist(), item_cameras(batch))
        return out["rgb"].clamp(0, 1), batch["image"], batch["valid"]

    evaluator = Engine(eval_step)
    MaskedPSNR(device=device).attach(evaluator, "psnr")
    MaskedSSIM(device=device).attach(evaluator, "ssim")
    return evaluator


def write_refined_poses(poses: CameraPoses, scene, out_dir: Path) -> dict:
    """Write every camera's refined pose to OUTPUT_DIR/refined_poses (CamPose.inf and the
    dataset's Intrinsic.inf); returns the mean and largest correction (degrees, scene units)."""
    c2w = torch.as_tensor(scene.cam_to_world, dtype=torch.float32)
    refined = poses.cpu().apply(c2w).double().numpy()
    write_cam_poses(out_dir / "refined_poses" / "CamPose.inf", refined)
    write_intrinsics(out_dir / "refined_poses" / "Intrinsic.inf", scene.K)
    degrees = torch.rad2deg(poses.delta.detach().cpu().double()[:, :3].norm(dim=1))
    shifts = torch.as_tensor(refined[:, :3, 3] - scene.cam_to_world[:, :3, 3]).norm(dim=1)
    return {"mean_degrees": float(degrees.mean()), "max_degrees": float(degrees.max()),
            "mean_translation": float(shifts.mean()), "max_translation": float(shifts.max())}


def align_training_cameras(cfg: CfgNode, state: "TrainingState", flow: "Dataflow",
                           clouds: FrameClouds, device: torch.device, batch: int = 8
                           ) -> torch.Tensor:
    """Move every training camera's pose correction to where the renderer's image of the first
    trained frame best matches its photo (SOLVER.POSE_ALIGN_*; ``align_poses``); returns how far
    each turned (degrees)."""
    model, poses, s = state.renderer, state.poses, cfg.SOLVER
    views = flow.views(flow.train_ids, False)[0]
    weights = (s.RGB_WEIGHT,) * 3 + (s.ALPHA_WEIGHT,)
    was_training = model.training
    model.eval()
    turns = []
    for start in range(0, len(views), batch):
        items = _to(default_collate([views[i] for i in range(start, min(start + batch,
                                                                          len(views)))]), device)
        ids = items["camera_id"]
        base = item_cameras(items)
        cameras = base.with_poses(poses(ids, base.cam_to_world).detach())
        frames = items["frame"].tolist()
        moved = align_poses(
            lambda c: model(clouds, frames, c, photos=ids, surface=True),
            torch.cat([items["image"], items["alpha"]], 1), items["valid"], cameras,
            tuple(s.POSE_ALIGN_SCALES), s.POSE_ALIGN_ITERATIONS, weights)
        poses.set_poses(ids.tolist(), base.cam_to_world, moved)
        turn = (cameras.cam_to_world[:, :3, :3].transpose(1, 2) @ moved[:, :3, :3])
        turns.append(torch.rad2deg(torch.arccos(((turn.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2)
                                                .clamp(-1, 1))))
    model.train(was_training)
    return torch.cat(turns)


def keep_training_rig(poses: CameraPoses, ids: list[int], cam_to_world: np.ndarray,
                      centre: np.ndarray) -> None:
    """Undo the motion common to the corrections of the training cameras ``ids`` (one rigid
    motion of the whole rig about the cloud's ``centre``; SOLVER.POSE_KEEP_RIG), given their
    poses ``cam_to_world`` (M, 4, 4)."""
    given = torch.as_tensor(cam_to_world, dtype=poses.delta.dtype, device=poses.delta.device)
    kept = without_rig_motion(poses.apply(given).double().cpu().numpy(), cam_to_world, ids,
                              centre)
    poses.set_poses(ids, given[ids], torch.as_tensor(kept[ids]))


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of the model's tensors: equal digests mean bitwise-equal weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def run_training(cfg: CfgNode, overwrite: bool = False) -> dict:
    """Train the model ``cfg`` describes; returns the final held-out and baseline PSNR (dB).

    OUTPUT_DIR is locked while the run writes there, and a run that would mix with a trained one
    already there is refused unless ``overwrite`` (npcr.engine.rundir); config.yml is written (with
    an absolute DATASETS.ROOT) once the scene has loaded. Launched by ``torchrun --nproc_per_node
    N`` it trains data-parallel in N processes (gloo on the CPU, nccl on GPUs) with
    ignite.distributed; SOLVER.IMS_PER_BATCH is then the global batch; rank 0 holds the lock."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASETS.ROOT = str(Path(cfg.DATASETS.ROOT).resolve()) if cfg.DATASETS.ROOT else ""
    cfg.freeze()
    result: dict = {}
    out_dir = Path(cfg.OUTPUT_DIR)
    world, first = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")) == 0
    with output_lock(out_dir) if first else contextlib.nullcontext():
        if first:
            check_run_dir(out_dir, cfg, overwrite)
            remove_temporary_files(out_dir)
        if world > 1:
            backend = "nccl" if select_device(cfg).type == "cuda" else "gloo"
            with idist.Parallel(backend=backend) as parallel:
                parallel.run(training, cfg, result, overwrite)
                # The engines' reference cycles still hold the DDP model (its reducer, the process
                # group): freed now, while the group and the interpreter are alive, not in the
                # interpreter's teardown, where freeing gloo's work can abort the process (a rank
                # ended with "terminate called without an active exception" once in a test run).
                gc.collect()
        else:
            training(0, cfg, result, overwrite)
    return result


def training(local_rank: int, cfg: CfgNode, result: dict, overwrite: bool) -> None:
    """One process's training (as ignite's examples shape it): data, state, engines, handlers,
    run, then the final metrics into ``result`` (rank 0 writes metrics.json)."""
    rank, world = idist.get_rank(), idist.get_world_size()
    out_dir = Path(cfg.OUTPUT_DIR)
    logger = setup_logger(out_dir if rank == 0 else None)
    seed_everything(cfg.SEED)
    device = idist.device() if world > 1 else select_device(cfg)
    data = load_scene(cfg)
    flow = build_dataflow(cfg, data)
    logger.info("%d points in frames %s, %d training / %d held-out cameras, device %s, "
                "%d process(es)", data.clouds.total, data.frames, len(flow.train_ids),
                len(flow.val_ids), device, world)
    if not flow.val_ids:
        logger.warning("DATASETS.VAL_CAMERAS is empty: PSNR is measured on training camera %d",
                       flow.train_ids[0])
    check_points_in_range(cfg, data, flow.train_ids, logger)
    state = build_training_state(cfg, data, device, local_rank, len(flow.train_loader))
    clouds = data.clouds.to(device)
    trainer = create_trainer(cfg, state.net, state.optimizer, clouds, device, state.scaler,
                             state.poses, state.pose_optimizer)
    evaluator = create_evaluator(state.renderer, clouds, device)
    to_save = state.to_save(trainer)
    if rank == 0 and overwrite:  # the run starts: its scene loaded and its model built
        clear_run(out_dir)
    if cfg.RESUME:
        resume(out_dir, state.renderer, to_save, len(flow.train_loader), logger)
    if rank == 0:
        save_config(cfg, out_dir / "config.yml")
    history, tb = attach_handlers(cfg, trainer, evaluator, state, flow, clouds, device, logger)
    start, start_iteration = trainer.state.epoch, trainer.state.iteration
    clock = time.perf_counter()
    try:
        run_engine(trainer, flow.train_loader, cfg.SOLVER.MAX_EPOCHS, logger, out_dir,
                   state.renderer, to_save, stop_on_signal=world == 1)
    finally:
        if tb is not None:
            tb.close()
    seconds = time.perf_counter() - clock

    epoch = max(start, trainer.state.epoch)
    psnr = history[epoch] if epoch in history else evaluator.run(flow.val_loader).metrics["psnr"]
    digests = idist.all_gather(model_digest(state.renderer))
    if rank == 0:
        iterations = trainer.state.iteration - start_iteration
        result.update({"epoch": epoch, "iterations": trainer.state.iteration,
                       "train_seconds": seconds, "it_per_s": iterations / max(seconds, 1e-9),
                       "peak_memory_mib": peak_memory_mib(device), "device": str(device),
                       "heldout_psnr": psnr, "val_cameras": flow.val_ids,
                       "heldout_psnr_by_epoch": history, "weights_sha256": digests})
        record = read_best_record(out_dir)
        if record is not None:  # best_psnr: the best model's on the held-out cameras
            result.update(best_epoch=record["epoch"], best_psnr=record["heldout_psnr"],
                          best_chosen_on="selection cameras" if flow.select_ids else
                          "held-out cameras (optimistic)")
            if flow.select_ids:
                result.update(select_cameras=flow.select_ids, best_selection_psnr=record["psnr"])
        if cfg.TEST.BASELINES:
            result.update(heldout_baselines(cfg, data, flow, state.renderer, logger))
        if state.poses is not None:
            result["pose_correction"] = write_refined_poses(state.poses, data.scene, out_dir)
        write_text(out_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
        baselines = (" | baselines: point-colour splat %.2f dB, mean colour %.2f dB" % (
            result["point_colour_splat_psnr"], result["mean_colour_psnr"])
            if cfg.TEST.BASELINES else "")
        logger.info("held-out PSNR: %.2f dB (best %.2f at epoch %d%s)%s", psnr,
                    result.get("best_psnr", psnr), result.get("best_epoch", epoch),
                    ", chosen on the selection cameras" if flow.select_ids else "", baselines)
    if world > 1:  # leave together: a rank tearing gloo down while rank 0 still writes can abort
        idist.barrier()


@dataclass
class Dataflow:
    """The cameras and loaders of a run; the training loader draws from a resumable sampler."""
    train_ids: list[int]
    val_ids: list[int]
    views: Callable[[list[int], bool], list[CameraImageDataset]]  # (ids, augment) -> per frame
    train_loader: DataLoader
    val_loader: DataLoader
    val_set: SeededItems
    select_ids: list[int]
    select_loader: DataLoader | None  # DATASETS.SELECT_CAMERAS, when given

    @property
    def sampler(self) -> ResumableSampler:
        return self.train_loader.sampler


def build_dataflow(cfg: CfgNode, data: SceneData) -> Dataflow:
    """Training views (augmented by INPUT.ZOOM_RANGE / INPUT.CROP) of the training cameras of every
    trained frame, the held-out views (DATASETS.VAL_CAMERAS; the first training camera when
    there are none) and the selection views (DATASETS.SELECT_CAMERAS), each process taking its
    share."""
    rank, world = idist.get_rank(), idist.get_world_size()
    train_ids, val_ids, select_ids = split_cameras(
        data.scene.num_cameras, list(cfg.DATASETS.VAL_CAMERAS), list(cfg.DATASETS.SELECT_CAMERAS))
    batch = cfg.SOLVER.IMS_PER_BATCH
    if batch % world:
        raise NpcrError(f"SOLVER.IMS_PER_BATCH {batch} is the global batch: make it a multiple of "
                        f"the {world} processes")
    if tuple(cfg.INPUT.ZOOM_RANGE) != (1.0, 1.0) and min(cfg.INPUT.CROP) <= 0 and batch > world:
        raise NpcrError("INPUT.ZOOM_RANGE gives images of different sizes: set INPUT.CROP to batch "
                        "them (SOLVER.IMS_PER_BATCH > number of processes)")

    photos = PhotoCache(data.scene, cfg.DATASETS.CACHE_MB)  # shared by every view of the run

    def views(ids: list[int], augment: bool) -> list[CameraImageDataset]:
        extra = {"zoom_range": tuple(cfg.INPUT.ZOOM_RANGE), "crop": tuple(cfg.INPUT.CROP)} \
            if augment else {}
        return [CameraImageDataset(data.scene, ids, f, tuple(cfg.INPUT.SIZE), photos=photos,
                                   **extra) for f in data.frames]

    train_set = SeededItems(views(train_ids, True))
    sampler = ResumableSampler(len(train_set), cfg.SEED, shuffle=True, rank=rank, world_size=world)
    train_loader = DataLoader(train_set, batch_size=batch // world, sampler=sampler,
                              num_workers=cfg.SOLVER.NUM_WORKERS)

    def fixed_loader(items: SeededItems) -> DataLoader:
        return DataLoader(items, batch_size=1, num_workers=cfg.SOLVER.NUM_WORKERS,
                          sampler=ResumableSampler(len(items), cfg.SEED, shuffle=False,
                                                   rank=rank, world_size=world))

    measured = measured_cameras(data.scene.num_cameras, val_ids, select_ids)
    val_set = SeededItems(views(measured, False))
    select_loader = fixed_loader(SeededItems(views(select_ids, False))) if select_ids else None
    return Dataflow(train_ids, val_ids, views, train_loader, fixed_loader(val_set), val_set,
                    select_ids, select_loader)


@dataclass
class TrainingState:
    """The model and what trains it: optimizer and LR schedule, the camera-pose corrections and
    theirs (SOLVER.POSE_LR > 0; the corrections alone for SOLVER.POSE_ALIGN_PERIOD > 0), the
    float16 gradient scaler; ``net`` is the model or its DDP wrapper; ``average`` the moving
    average of its weights (SOLVER.EMA_MOMENTUM > 0)."""
    model: PointRenderer
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    lr_scheduler: object | None
    scaler: torch.amp.GradScaler
    poses: CameraPoses | None = None
    pose_optimizer: torch.optim.Optimizer | None = None
    pose_lr_scheduler: object | None = None
    average: EMAHandler | None = None

    @property
    def renderer(self) -> PointRenderer:
        """The weights renders use: evaluated, previewed and saved as the model (``nr_model_*``):
        the moving average when there is one, else the trained model."""
        return self.model if self.average is None else self.average.ema_model

    def to_save(self, trainer: Engine) -> dict:
        """What a checkpoint holds besides the renderer (ignite ``to_save``), ``trainer`` included;
        with a moving average, the trained weights too."""
        objects = {"optimizer": self.optimizer, "trainer": trainer}
        if self.average is not None:
            objects["trained_model"] = self.model
        if self.poses is not None:
            objects["camera_poses"] = self.poses
        if self.pose_optimizer is not None:
            objects.update(pose_optimizer=self.pose_optimizer,
                           pose_lr_scheduler=self.pose_lr_scheduler)
        if self.scaler.is_enabled():
            objects["scaler"] = self.scaler
        if self.lr_scheduler is not None:
            objects["lr_scheduler"] = self.lr_scheduler
        return objects


def build_training_state(cfg: CfgNode, data: SceneData, device: torch.device, local_rank: int,
                         epoch_length: int) -> TrainingState:
    """The model of ``cfg`` for ``data`` (features from the points' colours when asked), on
    ``device`` (compiled when asked, wrapped in DDP in a multi-process run), and its optimizers,
    schedules and gradient scaler."""
    model = build_scene_model(cfg, data)
    if cfg.MODEL.INIT_FEATURES == "colors":
        if data.colors is None:
            raise NpcrError(f"MODEL.INIT_FEATURES colors: the point cloud of {cfg.DATASETS.ROOT} "
                            "has no colours")
        model.init_features_from_colors(data.colors)
    model = model.to(device)
    average = build_weight_average(model, cfg.SOLVER.EMA_MOMENTUM)
    maybe_compile(cfg, model)
    net = model
    if idist.get_world_size() > 1:
        net = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda"
                                      else None)
    optimizer = build_optimizer(cfg, model)
    state = TrainingState(
        model, net, optimizer,
        build_lr_scheduler(cfg, optimizer, cfg.SOLVER.MAX_EPOCHS * epoch_length),
        torch.amp.GradScaler(device.type, enabled=amp_dtype(cfg, device) is torch.float16),
        average=average)
    if cfg.SOLVER.POSE_LR > 0 or cfg.SOLVER.POSE_ALIGN_PERIOD > 0:
        state.poses = CameraPoses(data.scene.num_cameras).to(device)
    if cfg.SOLVER.POSE_LR > 0:
        state.pose_optimizer = build_pose_optimizer(cfg, state.poses)
        state.pose_lr_scheduler = build_pose_lr_scheduler(cfg, state.pose_optimizer, epoch_length)
    return state


def attach_handlers(cfg: CfgNode, trainer: Engine, evaluator: Engine, state: TrainingState,
                    flow: Dataflow, clouds: FrameClouds, device: torch.device,
                    logger: logging.Logger) -> tuple[dict[int, float], TensorboardLogger | None]:
    """Checkpoints, the resumable sampler's epochs, the layer schedule, the LR schedules, the
    pose-refinement switch, progress, TensorBoard (rank 0) and the held-out evaluation that keeps
    the best model, all of the renderer (the weights' moving average, if any); returns the
    held-out PSNR by epoch (filled as training goes) and the TensorBoard logger to close at the
    end. The best model is the one with the highest PSNR on the selection cameras when there are
    any, else on the held-out ones."""
    out_dir, model, poses = Path(cfg.OUTPUT_DIR), state.renderer, state.poses
    # Handlers of one event run in the order attached: the schedules step and the average is
    # updated before a resume point saves them, so that a resumed run goes on exactly as an
    # uninterrupted one.
    if state.average is not None:
        attach_weight_average(trainer, state.average, cfg.SOLVER.EMA_MOMENTUM)
    if state.lr_scheduler is not None:
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: state.lr_scheduler.step())
    if state.pose_lr_scheduler is not None:
        @trainer.on(Events.ITERATION_COMPLETED)
        def decay_pose_rate(_: Engine) -> None:
            if poses.delta.requires_grad:
                state.pose_lr_scheduler.step()

    # the poses' end-of-epoch moves, too, before a resume point saves them
    if poses is not None and cfg.SOLVER.POSE_ALIGN_PERIOD > 0:
        @trainer.on(Events.EPOCH_COMPLETED(every=cfg.SOLVER.POSE_ALIGN_PERIOD))
        def align_cameras(engine: Engine) -> None:
            if engine.state.epoch >= cfg.SOLVER.POSE_ALIGN_START_EPOCH:
                turns = align_training_cameras(cfg, state, flow, clouds, device)
                logger.info("epoch %d: aligned the training cameras: %d moved, turned by "
                            "%.3f degrees on average (%.3f at most)", engine.state.epoch,
                            int((turns > 0).sum()), float(turns.mean()), float(turns.max()))
    if poses is not None and cfg.SOLVER.POSE_KEEP_RIG:
        given = flow.views(flow.train_ids, False)[0].scene.cam_to_world
        first = clouds.points[next(iter(clouds.points))]
        centre = ((first.min(0).values + first.max(0).values) / 2).double().cpu().numpy()
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: keep_training_rig(
            poses, flow.train_ids, given, centre))

    attach_checkpoints(out_dir, model, state.to_save(trainer), trainer,
                       cfg.SOLVER.CHECKPOINT_PERIOD, cfg.SOLVER.KEEP_CHECKPOINTS,
                       cfg.SOLVER.CHECKPOINT_ITERS)
    attach_resumable_epochs(trainer, flow.sampler)

    @trainer.on(Events.EPOCH_STARTED)
    def set_layers_and_pose_refinement(engine: Engine) -> None:
        layers = layers_at_epoch(cfg, engine.state.epoch - 1)
        if layers != model.active_layers:
            logger.info("epoch %d: %d depth-peeling layers", engine.state.epoch, layers)
        model.active_layers = state.model.active_layers = layers
        if poses is not None:
            poses.delta.requires_grad_(cfg.SOLVER.POSE_LR > 0 and
                                       engine.state.epoch - 1 >= cfg.SOLVER.POSE_START_EPOCH)

    tb = None
    if idist.get_rank() == 0:
        if sys.stderr.isatty():
            ProgressBar(persist=False).attach(trainer, output_transform=lambda o: {"loss": o["loss"]})
        tb = attach_monitoring(trainer, evaluator, state.optimizer, model, clouds,
                               flow.val_set[(0, 0)], out_dir, cfg.TEST.IMAGE_PERIOD, device, logger)

    history: dict[int, float] = {}
    best = BestModel(out_dir, model)
    # an engine of its own, so that TensorBoard's held-out curves (the evaluator's) stay theirs
    selector = create_evaluator(model, clouds, device) if flow.select_loader is not None else None

    def evaluate(engine: Engine) -> None:
        psnr = evaluator.run(flow.val_loader).metrics["psnr"]
        history[engine.state.epoch] = psnr
        selection = ""
        if selector is not None:
            score = selector.run(flow.select_loader).metrics["psnr"]
            selection = f", selection PSNR {score:.2f} dB"
        else:
            score = psnr
        improved = best.update(engine.state.epoch, score, psnr)
        logger.info("epoch %d: loss %.4f, held-out PSNR %.2f dB%s%s", engine.state.epoch,
                    engine.state.output["loss"], psnr, selection,
                    " (best so far)" if improved else "")

    trainer.add_event_handler(Events.EPOCH_COMPLETED(every=cfg.TEST.EVAL_PERIOD), evaluate)
    return history, tb


def attach_resumable_epochs(trainer: Engine, sampler: ResumableSampler) -> None:
    """Each epoch the sampler draws that epoch's order; a run resumed inside an epoch skips the
    items that were already trained on."""
    @trainer.on(Events.EPOCH_STARTED)
    def set_sampler_epoch(engine: Engine) -> None:
        done = engine.state.iteration % engine.state.epoch_length
        sampler.set_epoch(engine.state.epoch - 1, start=done * engine.state.dataloader.batch_size)


def run_engine(trainer: Engine, loader: DataLoader, max_epochs: int, logger: logging.Logger,
               out_dir: Path, model: torch.nn.Module, to_save: dict,
               files: CheckpointFiles = RENDERER, stop_on_signal: bool = True) -> None:
    """Run ``trainer`` to ``max_epochs`` (nothing when a resumed run is there already); with
    ``stop_on_signal`` a Ctrl-C or SIGTERM stops after the iteration with a resume point (a
    multi-process run stops through its launcher instead)."""
    if trainer.state.epoch >= max_epochs:
        logger.info("already trained to epoch %d (max epochs %d): nothing to do",
                    trainer.state.epoch, max_epochs)
        return
    if not stop_on_signal:
        trainer.run(loader, max_epochs=max_epochs)
        return
    with stop_cleanly_on_ctrl_c(trainer, out_dir, model, to_save, logger, files):
        trainer.run(loader, max_epochs=max_epochs)


def heldout_baselines(cfg: CfgNode, data: SceneData, flow: Dataflow, model: PointRenderer,
                      logger: logging.Logger) -> dict[str, float]:
    """PSNR of the non-learned baselines on the held-out views: ``mean_colour_psnr`` and
    ``point_colour_splat_psnr`` (one colour per point fitted to the training views)."""
    logger.info("baselines on the held-out views: fitting one colour per point to the %d "
                "training views (no network)", len(flow.train_ids) * len(data.frames))
    baselines = baseline_psnrs(
        flow.views(flow.train_ids, False), flow.val_set.parts,
        [(data.clouds.points[f], data.frame_colors(f)) for f in data.frames], model.near,
        model.far, cfg.MODEL.MAX_SPLAT, model.opaque)
    return {"mean_colour_psnr": baselines["mean_colour"],
            "point_colour_splat_psnr": baselines["point_colour_splat"]}
