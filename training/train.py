"""The training loop: one reviewer from a TrainConfig to a calibrated checkpoint and an MLflow run.

`setup` builds the run (splits, data, model, optimiser), `restore` resumes it, then each epoch
is `train_one_epoch` and `end_of_epoch` (validation, checkpoint, one progress line), and
`finish` keeps the best epoch, calibrates it and prints every head's validation figure.

With `model.frozen_levels > 0` and `data.cache_features`, the frozen levels' output of every
photo is computed once (training.cache) and the epochs train the rest on it.

Runs as one process, or as several under `torchrun` (DDP: gloo on CPU, nccl on CUDA);
only rank 0 writes checkpoints and logs. Each epoch is seeded by (seed, epoch), so an
interrupted run resumed with `resume=True` ends on the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from data.taxonomy import load_taxonomy
from secondlook.errors import InputError
from serving.preprocess import PreprocessSpec, ResizeMode
from training.cache import photo_batches
from training.calibrate import fit_defect_thresholds, fit_temperatures
from training.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    epoch_paths,
    latest_epoch,
    load_state,
    load_weights,
    save_epoch,
    save_weights,
)
from training.config import TrainConfig
from training.data import ItemBatchSampler, PhotoDataset, load_splits
from training.distributed import Distributed, distributed_context, seed_everything
from training.evaluate import compute_metrics, headline, headline_table
from training.head_fit import describe as describe_head_fits
from training.losses import multitask_loss
from training.model import Reviewer, build_reviewer
from training.optim import class_weights_for, lr_lambda, parameter_groups
from training.precision import describe_precision, mixed_precision
from training.predict import collect, forward, to_device
from training.progress import Milestones, clock, epoch_line
from training.refit import refit_heads
from training.tracking import Tracker, describe_machine, file_sha256, git_sha, write_history
from training.validation import validation_metrics

Report = Callable[[str], None]
HISTORY_FILE = "history.csv"


def preprocess_spec(config: TrainConfig) -> PreprocessSpec:
    """The bundle's preprocessing: size from the config, mean and std from the backbone's
    pretrained config (the statistics its ImageNet weights were trained with)."""
    import timm

    size, resize = config.preprocess.size, ResizeMode(config.preprocess.resize)
    pretrained = timm.models.get_pretrained_cfg(config.model.backbone)
    if pretrained is None:
        return PreprocessSpec(size=size, resize=resize)
    mean, std = tuple(pretrained.mean), tuple(pretrained.std)
    if len(mean) != 3 or len(std) != 3:
        raise InputError(
            f"model.backbone {config.model.backbone}: its pretrained mean and std need three values (RGB)"
        )
    return PreprocessSpec(size=size, resize=resize, mean=mean, std=std)


@dataclass
class Run:
    """Everything one training run holds between epochs."""

    config: TrainConfig
    world: Distributed
    device: torch.device
    run_dir: Path
    model: Reviewer
    trainable: torch.nn.Module
    train_set: PhotoDataset
    val_set: PhotoDataset
    sampler: ItemBatchSampler
    train_batches: Iterable[dict[str, torch.Tensor]]
    val_batches: Iterable[dict[str, torch.Tensor]]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    steps_per_epoch: int
    report: Report
    progress: bool
    ema: Any = None
    scaler: Any = None
    class_weights: dict[str, torch.Tensor] | None = None
    tracker: Tracker | None = None
    start_epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)
    epochs_without_gain: int = 0
    started: float = field(default_factory=time.perf_counter)
    epochs_started: float | None = None  # when the first epoch of this process began (for the ETA)
    wall_before: float = 0.0  # wall-clock seconds the run took before it was resumed

    @property
    def evaluated(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model


def train(
    config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    report: Report | None = None,
    finish_now: bool = False,
) -> Path:
    """Train, calibrate and record one reviewer; returns the run folder (config.out_dir).

    `report` receives one line per stage and per epoch and the final table (default: print);
    `progress` adds live progress bars. `finish_now` (with `resume`) trains no further epoch:
    the best epoch so far is refitted, calibrated and written as the run's model, and the
    checkpoints stay, so a later resume goes on training from the last one."""
    if finish_now and not resume:
        raise InputError("--finish continues an existing run: pass --resume as well")
    with distributed_context() as world:
        run = setup(config, world, progress, report or (lambda line: print(line, flush=True)))
        if resume:
            restore(run)
        elif world.main and run.run_dir.exists() and latest_epoch(run.run_dir) is not None:
            raise InputError(
                f"{run.run_dir} already holds checkpoints: pass --resume to continue, "
                "or choose another out_dir"
            )
        run.tracker = Tracker(config, run.run_dir, enabled=world.main, resume=resume)
        if world.main:
            run.run_dir.mkdir(parents=True, exist_ok=True)
            (run.run_dir / "config.yaml").write_text(config.to_yaml())
        patience = config.train.early_stopping_patience
        if resume and patience and run.epochs_without_gain >= patience:
            finish_now = True  # early stopping had ended the run: nothing more to train
            run.report(f"{config.name}: early stopping had ended this run; calibrating its best epoch again")
        for epoch in range(run.start_epoch, 0 if finish_now else config.train.epochs):
            try:
                loss = train_one_epoch(run, epoch)
            except KeyboardInterrupt:
                done = f"epoch {epoch} is the last complete one" if epoch else "no epoch is complete yet"
                run.report(f"{config.name}: interrupted in epoch {epoch + 1}; {done}: rerun with --resume")
                raise
            if end_of_epoch(run, epoch, loss):
                break
        if world.main:
            finish(run)
        if world.world_size > 1:
            dist.barrier()
        return run.run_dir


def setup(config: TrainConfig, world: Distributed, progress: bool, report: Report) -> Run:
    started = time.perf_counter()
    seed_everything(config.seed)
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{world.local_rank}" if cuda else "cpu")
    if not cuda and world.world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.world_size))
    spec = preprocess_spec(config)
    if world.main:
        report(f"{config.name}: {describe_precision(device, config.train.amp)}")
    # The model first: missing ImageNet weights fail before any data is read.
    model = build_reviewer(config.model).to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    splits = load_splits(config.data)
    if splits.train.empty or splits.val.empty:
        raise InputError(f"{config.data.manifest}: not enough items for a train and a validation split")
    augment = "none" if config.caches_features else config.train.augment
    train_set = PhotoDataset(splits.train, config.data.manifest, spec, augment, config.seed)
    val_set = PhotoDataset(splits.val, config.data.manifest, spec, "none", config.seed)
    sampler = ItemBatchSampler(
        train_set.targets.item_index,
        config.train.batch_items,
        True,
        config.seed,
        world.rank,
        world.world_size,
    )
    trainable: torch.nn.Module = model
    if world.world_size > 1:
        trainable = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[world.local_rank] if cuda else None, find_unused_parameters=True
        )
    optimizer = torch.optim.AdamW(
        parameter_groups(model, config.train.weight_decay, config.train.lr, config.train.head_lr_scale),
        lr=config.train.lr,
    )
    steps_per_epoch = len(sampler)
    if config.train.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.train.max_steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lr_lambda(steps_per_epoch * config.train.epochs, int(config.train.warmup_epochs * steps_per_epoch)),
    )
    ema = None
    if config.train.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=config.train.ema_decay)
    val_sampler = ItemBatchSampler(val_set.targets.item_index, config.train.batch_items, False)
    main_report = report if world.main else (lambda line: None)
    return Run(
        config=config,
        world=world,
        device=device,
        run_dir=Path(config.out_dir),
        model=model,
        trainable=trainable,
        train_set=train_set,
        val_set=val_set,
        sampler=sampler,
        train_batches=photo_batches(config, model, train_set, sampler, device, main_report, "training"),
        val_batches=photo_batches(config, model, val_set, val_sampler, device, main_report, "validation"),
        optimizer=optimizer,
        scheduler=scheduler,
        steps_per_epoch=steps_per_epoch,
        report=main_report,
        progress=progress,
        ema=ema,
        # float16 needs its gradients scaled; bfloat16 (CPU) has float32's range and does not
        scaler=torch.amp.GradScaler("cuda", enabled=cuda and config.train.amp),
        class_weights=class_weights_for(train_set, device) if config.train.class_weights else None,
        started=started,
    )


def restore(run: Run) -> None:
    """Continue from the last complete epoch in the run folder: weights, optimiser, history."""
    last = latest_epoch(run.run_dir)
    if last is None:
        raise InputError(f"--resume: no complete checkpoint in {run.run_dir / 'checkpoints'}")
    weights, ema_weights, state_path = epoch_paths(run.run_dir, last)
    run.model.load_state_dict(load_weights(weights))
    if run.ema is not None and ema_weights.exists():
        run.ema.module.load_state_dict(load_weights(ema_weights))
    state = load_state(state_path)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.best_score, run.best_epoch, run.history = state["best_score"], state["best_epoch"], state["history"]
    run.start_epoch = last + 1
    run.wall_before = float(run.history[-1]["wall_seconds"]) if run.history else 0.0
    run.epochs_without_gain = last - run.best_epoch  # early stopping counts on where it was
    run.report(
        f"{run.config.name}: resumed after epoch {last + 1} of {run.config.train.epochs} "
        f"(best so far: epoch {run.best_epoch + 1})"
    )


def train_one_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over the training items; returns the smoothed loss and its parts, and the speed."""
    config, world = run.config, run.world
    torch.manual_seed(config.seed * 100_003 + epoch * 101 + world.rank)
    run.sampler.set_epoch(epoch)
    run.train_set.set_epoch(epoch)
    run.trainable.train()
    started, seen = time.perf_counter(), 0
    running: dict[str, float] = {}
    if run.epochs_started is None:
        run.epochs_started = started
    bar = tqdm(
        total=run.steps_per_epoch,
        desc=f"{config.name} epoch {epoch + 1}/{config.train.epochs}",
        disable=not (run.progress and world.main),
        leave=False,
    )
    quiet = (lambda line: None) if run.progress else run.report  # a log gets a line each tenth
    milestones = Milestones(
        f"{config.name} epoch {epoch + 1}/{config.train.epochs}", run.steps_per_epoch, "steps", quiet
    )
    for step, batch in enumerate(run.train_batches):
        if step >= run.steps_per_epoch:
            break
        batch = to_device(batch, run.device, config.train.channels_last)
        with mixed_precision(run.trainable, run.device, config.train.amp):
            out = forward(run.trainable, batch, cue_maps=True, training=True)
        out = {k: v.float() for k, v in out.items()}
        loss, parts = multitask_loss(out, batch, config.loss_weights, run.class_weights)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update(run.model)
        seen += len(batch["row"])
        running = {
            k: 0.9 * running.get(k, v) + 0.1 * v for k, v in {"loss": float(loss.detach()), **parts}.items()
        }
        bar.set_postfix(loss=f"{running['loss']:.3f}")
        bar.update(1)
        milestones.update(step + 1)
    bar.close()
    elapsed = time.perf_counter() - started
    return {
        "train_loss": running.get("loss", float("nan")),
        "images_per_second": seen * world.world_size / max(elapsed, 1e-9),
        "photos": seen * world.world_size,
        "seconds": elapsed,
    }


def end_of_epoch(run: Run, epoch: int, trained: dict[str, float]) -> bool:
    """Validate, checkpoint and report (rank 0); returns whether early stopping ends the run."""
    config = run.config
    if run.world.main:
        predictions = collect(run.evaluated, run.val_batches, run.device, config.train.channels_last)
        metrics = validation_metrics(predictions, run.val_set)
        seen_before = run.history[-1]["photos_seen"] if run.history else 0
        record = {
            "epoch": epoch,
            "photos_seen": seen_before + trained["photos"],
            "wall_seconds": run.wall_before + time.perf_counter() - run.started,  # over every resume
            "train_loss": trained["train_loss"],
            "images_per_second": trained["images_per_second"],
            "lr": float(run.scheduler.get_last_lr()[0]),
            **{f"val_{k}": v for k, v in metrics.items()},
        }
        run.history.append(record)
        score = metrics["score"]
        improved = run.best_epoch < 0 or (
            not math.isnan(score) and (math.isnan(run.best_score) or score > run.best_score)
        )
        if improved:
            run.best_score, run.best_epoch = score, epoch
        save_epoch(
            run.run_dir,
            epoch,
            run.model.state_dict(),
            run.ema.module.state_dict() if run.ema is not None else None,
            {
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "epoch": epoch,
                "best_score": run.best_score,
                "best_epoch": run.best_epoch,
                "history": run.history,
            },
        )
        if run.tracker is not None:
            run.tracker.log_epoch(record, epoch)
        done = epoch + 1 - run.start_epoch
        per_epoch = (time.perf_counter() - (run.epochs_started or run.started)) / done
        remaining = per_epoch * (config.train.epochs - epoch - 1)
        run.report(epoch_line(config.name, epoch, config.train.epochs, trained, metrics, remaining))
        run.epochs_without_gain = 0 if improved else run.epochs_without_gain + 1
    patience = config.train.early_stopping_patience
    stop = torch.tensor(int(bool(patience) and run.epochs_without_gain >= (patience or 0)))
    if run.world.world_size > 1:
        dist.broadcast(stop, src=0)
    return bool(int(stop))


def finish(run: Run) -> None:
    """Best epoch's weights -> classification heads and then the condition head fitted to
    convergence on the training photos and items (`training.refit`)
    -> temperature scaling on validation -> model.safetensors + MLflow, and a table of every
    head's calibrated validation figure."""
    config, model = run.config, run.model
    weights, ema_weights, _ = epoch_paths(run.run_dir, run.best_epoch)
    model.load_state_dict(load_weights(ema_weights if run.ema is not None else weights))
    # A random sample of at most `refit_items` training items (the last epoch's shuffled order):
    # the refitted heads are linear on fixed features, which a few thousand items pin down, and a
    # pass over all 10,000 items of a long run would take half an hour on 2 cores.
    batches = math.ceil(config.train.refit_items / config.train.batch_items)
    refits = refit_heads(
        model, itertools.islice(run.train_batches, batches), run.device, config.train.channels_last
    )
    head_fits, grade_fit = refits.heads, refits.grade
    if head_fits:
        run.report(f"{config.name}: {describe_head_fits(head_fits)}")
    if grade_fit is not None:
        run.report(f"{config.name}: {grade_fit.describe()}")
    predictions = collect(model, run.val_batches, run.device, config.train.channels_last)
    temperatures, calibration = fit_temperatures(predictions, run.val_set)
    thresholds = fit_defect_thresholds(predictions, run.val_set)
    figures = headline(compute_metrics(predictions, run.val_set, temperatures))
    taxonomy = load_taxonomy()
    history = run.history
    metadata = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "name": config.name,
        "backbone": config.model.backbone,
        "config": json.loads(json.dumps(config.model_dump(mode="json"))),
        "taxonomy": taxonomy.describe(),
        "preprocess": preprocess_spec(config).to_dict(),
        "temperatures": temperatures,
        "calibration": calibration,
        "defect_thresholds": thresholds,
        "head_fit": [dataclasses.asdict(fit) for fit in head_fits],
        "grade_fit": dataclasses.asdict(grade_fit) if grade_fit is not None else None,
        "best_epoch": run.best_epoch,
        "val_metrics": history[[h["epoch"] for h in history].index(run.best_epoch)] if history else {},
        "val_calibrated": figures,
        "mlflow_run_id": run.tracker.run_id if run.tracker else None,
        "git_sha": git_sha(),
        "data_manifest_sha256": file_sha256(Path(config.data.manifest)),
        "machine": describe_machine(),
        "wall_seconds": run.wall_before + time.perf_counter() - run.started,
    }
    final = run.run_dir / "model.safetensors"
    save_weights(final, model.state_dict(), metadata)
    write_history(run.run_dir / HISTORY_FILE, history)
    (run.run_dir / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    if run.tracker is not None:
        run.tracker.finish(final, calibration)
    took = clock(time.perf_counter() - run.started)
    run.report(
        f"{config.name}: best epoch {run.best_epoch + 1}, trained in {took}; "
        f"validation ({len(run.val_set)} photos, calibrated):\n{headline_table(figures)}"
    )
