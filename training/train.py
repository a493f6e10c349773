"""The training loop: one reviewer from a TrainConfig to a calibrated checkpoint and an MLflow run.

Runs as one process, or as several under `torchrun` (DDP: gloo on CPU, nccl on CUDA);
only rank 0 writes checkpoints and logs. Each epoch is seeded by (seed, epoch), so an
interrupted run resumed with `resume=True` ends on the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from data.taxonomy import load_taxonomy
from serving.preprocess import PreprocessSpec
from serving.probabilities import ordinal_probabilities, sigmoid
from training import calibrate as cal
from training.checkpoint import (
    epoch_paths,
    latest_epoch,
    load_state,
    load_weights,
    save_state,
    save_weights,
)
from training.config import TrainConfig
from training.data import ItemBatchSampler, PhotoDataset, load_splits
from training.losses import multitask_loss
from training.metrics import accuracy, binary_ece, item_accuracy
from training.model import DEFECTS, EVIDENCE, Reviewer
from training.targets import CLASSIFICATION_TASKS, ORDINAL_TASK
from training.tracking import Tracker, file_sha256, git_sha

FORMAT_VERSION = 1
MASK_TARGET = "mask_target"  # key of the target defect masks in `collect`'s result


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@contextmanager
def distributed_context() -> Iterator[Distributed]:
    """Join the process group torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Distributed()
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    finally:
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def preprocess_spec(config: TrainConfig) -> PreprocessSpec:
    return PreprocessSpec(size=config.preprocess.size, resize=config.preprocess.resize)


def build_model(config: TrainConfig) -> Reviewer:
    return Reviewer(
        config.model.backbone,
        pretrained=config.model.pretrained,
        pretrained_path=config.model.pretrained_path,
        drop_rate=config.model.drop_rate,
        seg_channels=config.model.seg_channels,
    )


def lr_lambda(total_steps: int, warmup_steps: int):
    """Linear warmup then cosine decay to zero, as a factor of the base learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and normalisation parameters."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def class_weights_for(dataset: PhotoDataset, device: torch.device) -> dict[str, torch.Tensor]:
    """Inverse-frequency weights per classification task (known labels only), mean 1."""
    weights = {}
    for task in CLASSIFICATION_TASKS:
        labels = dataset.targets.classes[task]
        known = labels[labels >= 0]
        n_classes = len(dataset.taxonomy.classes(task))
        counts = np.bincount(known, minlength=n_classes).astype(np.float64) + 1.0
        w = counts.sum() / counts
        weights[task] = torch.as_tensor(w / w.mean(), dtype=torch.float32, device=device)
    return weights


def to_device(
    batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool
) -> dict[str, torch.Tensor]:
    moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    if channels_last:
        moved["image"] = moved["image"].contiguous(memory_format=torch.channels_last)
    return moved


def gather(
    loader: DataLoader, predict: Callable[[dict[str, torch.Tensor]], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Run `predict` (batch -> head outputs as numpy: logits, defect probabilities) over a loader;
    returns them with the target defect masks and the rows they belong to, in row order."""
    chunks: dict[str, list[np.ndarray]] = {}
    for batch in loader:
        out = predict(batch)
        for key in (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE):
            chunks.setdefault(key, []).append(out[key])
        chunks.setdefault(DEFECTS, []).append(out[DEFECTS].astype(np.float16))
        chunks.setdefault(MASK_TARGET, []).append(batch["mask"].cpu().numpy().astype(np.uint8))
        chunks.setdefault("row", []).append(batch["row"].cpu().numpy())
    collected = {k: np.concatenate(v) for k, v in chunks.items()}
    order = np.argsort(collected["row"])
    return {k: v[order] for k, v in collected.items()}


@torch.no_grad()
def collect(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, channels_last: bool
) -> dict[str, np.ndarray]:
    """`gather` with a PyTorch model (eval mode; defect logits turned into probabilities)."""
    model.eval()

    def predict(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        out = model(to_device(batch, device, channels_last)["image"])
        result = {
            key: out[key].float().cpu().numpy() for key in (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE)
        }
        result[DEFECTS] = torch.sigmoid(out[DEFECTS].float()).cpu().numpy()
        return result

    return gather(loader, predict)


def validation_metrics(predictions: dict[str, np.ndarray], dataset: PhotoDataset) -> dict[str, float]:
    t = dataset.targets
    metrics = {
        f"{task}_acc": accuracy(predictions[task].argmax(1), t.classes[task]) for task in CLASSIFICATION_TASKS
    }
    grade = ordinal_probabilities(predictions[ORDINAL_TASK]).argmax(1)
    metrics["condition_acc"] = accuracy(grade, t.condition)
    evidence_prob = sigmoid(predictions[EVIDENCE])
    metrics["evidence_acc"] = accuracy((evidence_prob >= 0.5).astype(np.int64), t.evidence)
    known = t.evidence >= 0
    metrics["evidence_ece"] = (
        binary_ece(evidence_prob[known], t.evidence[known]) if known.any() else float("nan")
    )
    items = dataset.frame["item_id"].to_numpy()
    metrics["item_acc"], _ = item_accuracy(items, evidence_prob, t.item_label)
    scores = [v for k, v in metrics.items() if k in ("evidence_acc", "item_acc") and not math.isnan(v)]
    metrics["score"] = float(np.mean(scores)) if scores else float("nan")
    return {k: round(float(v), 6) for k, v in metrics.items()}


def fit_temperatures(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset
) -> tuple[dict[str, float], dict]:
    """Temperature per head on validation, with ECE before and after."""
    t = dataset.targets
    temperatures: dict[str, float] = {}
    report: dict[str, dict[str, float]] = {}
    for task in CLASSIFICATION_TASKS:
        temperatures[task] = cal.fit_multiclass(predictions[task], t.classes[task])
        before = cal.multiclass_ece(predictions[task], t.classes[task])
        after = cal.multiclass_ece(predictions[task], t.classes[task], temperatures[task])
        report[task] = {"ece_before": before, "ece_after": after, "temperature": temperatures[task]}
    temperatures[ORDINAL_TASK] = cal.fit_ordinal(predictions[ORDINAL_TASK], t.condition)
    report[ORDINAL_TASK] = {
        "ece_before": cal.ordinal_ece(predictions[ORDINAL_TASK], t.condition),
        "ece_after": cal.ordinal_ece(predictions[ORDINAL_TASK], t.condition, temperatures[ORDINAL_TASK]),
        "temperature": temperatures[ORDINAL_TASK],
    }
    temperatures[EVIDENCE] = cal.fit_binary(predictions[EVIDENCE], t.evidence)
    report[EVIDENCE] = {
        "ece_before": cal.evidence_ece(predictions[EVIDENCE], t.evidence),
        "ece_after": cal.evidence_ece(predictions[EVIDENCE], t.evidence, temperatures[EVIDENCE]),
        "temperature": temperatures[EVIDENCE],
    }
    return temperatures, report


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train, calibrate and record one reviewer; returns the run folder (config.out_dir)."""
    with distributed_context() as world:
        return _train(config, world, resume, progress)


def _train(config: TrainConfig, world: Distributed, resume: bool, progress: bool) -> Path:
    run_dir = Path(config.out_dir)
    seed_everything(config.seed)
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{world.local_rank}" if cuda else "cpu")
    if not cuda and world.world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.world_size))
    spec = preprocess_spec(config)
    splits = load_splits(
        config.data.manifest, config.data.split_seed, config.data.val_fraction, config.data.max_items
    )
    if splits.train.empty or splits.val.empty:
        raise ValueError(f"{config.data.manifest}: not enough items for a train and a validation split")
    train_set = PhotoDataset(splits.train, config.data.manifest, spec, config.train.augment, config.seed)
    val_set = PhotoDataset(splits.val, config.data.manifest, spec, "none", config.seed)
    sampler = ItemBatchSampler(
        train_set.targets.item_index,
        config.train.batch_items,
        True,
        config.seed,
        world.rank,
        world.world_size,
    )
    workers = config.data.workers
    loader_args: dict[str, Any] = {"num_workers": workers, "persistent_workers": workers > 0}
    train_loader = DataLoader(train_set, batch_sampler=sampler, **loader_args)
    val_loader = DataLoader(
        val_set,
        batch_sampler=ItemBatchSampler(val_set.targets.item_index, config.train.batch_items, False),
        **loader_args,
    )
    model = build_model(config).to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable: torch.nn.Module = model
    if world.world_size > 1:
        trainable = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[world.local_rank] if cuda else None, find_unused_parameters=True
        )
    optimizer = torch.optim.AdamW(parameter_groups(model, config.train.weight_decay), lr=config.train.lr)
    steps_per_epoch = len(sampler)
    if config.train.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.train.max_steps_per_epoch)
    total_steps = steps_per_epoch * config.train.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, int(config.train.warmup_epochs * steps_per_epoch))
    )
    ema = None
    if config.train.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=config.train.ema_decay)
    class_weights = class_weights_for(train_set, device) if config.train.class_weights else None
    use_amp = cuda and config.train.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, best_score, best_epoch, history = 0, -math.inf, -1, []
    if resume:
        last = latest_epoch(run_dir)
        if last is None:
            raise ValueError(f"--resume: no complete checkpoint in {run_dir / 'checkpoints'}")
        weights, ema_weights, state_path = epoch_paths(run_dir, last)
        model.load_state_dict(load_weights(weights))
        if ema is not None and ema_weights.exists():
            ema.module.load_state_dict(load_weights(ema_weights))
        state = load_state(state_path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        best_score, best_epoch, history = state["best_score"], state["best_epoch"], state["history"]
        start_epoch = last + 1
    elif world.main and run_dir.exists() and latest_epoch(run_dir) is not None:
        raise ValueError(
            f"{run_dir} already holds checkpoints: pass --resume to continue, or choose another out_dir"
        )

    tracker = Tracker(config, run_dir, enabled=world.main, resume=resume)
    if world.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config.to_yaml())
    evaluated = ema.module if ema is not None else model
    epochs_without_gain = 0
    for epoch in range(start_epoch, config.train.epochs):
        torch.manual_seed(config.seed * 100_003 + epoch * 101 + world.rank)
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        trainable.train()
        started, seen, running = time.perf_counter(), 0, {}
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"{config.name} epoch {epoch + 1}/{config.train.epochs}",
            disable=not (progress and world.main),
            leave=False,
        )
        for step, batch in enumerate(train_loader):
            if step >= steps_per_epoch:
                break
            batch = to_device(batch, device, config.train.channels_last)
            with torch.autocast("cuda", dtype=torch.float16) if use_amp else nullcontext():
                out = trainable(batch["image"])
                loss, parts = multitask_loss(out, batch, config.loss_weights, class_weights)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            seen += len(batch["image"])
            running = {
                k: 0.9 * running.get(k, v) + 0.1 * v
                for k, v in {"loss": float(loss.detach()), **parts}.items()
            }
            bar.set_postfix(loss=f"{running['loss']:.3f}", evid=f"{running.get(EVIDENCE, float('nan')):.3f}")
            bar.update(1)
        bar.close()
        elapsed = time.perf_counter() - started
        record: dict[str, float] = {
            "epoch": epoch,
            "train_loss": running.get("loss", float("nan")),
            "images_per_second": seen * world.world_size / max(elapsed, 1e-9),
            "lr": scheduler.get_last_lr()[0],
        }
        if world.main:
            metrics = validation_metrics(
                collect(evaluated, val_loader, device, config.train.channels_last), val_set
            )
            record.update({f"val_{k}": v for k, v in metrics.items()})
            history.append(record)
            score = metrics["score"]
            improved = best_epoch < 0 or (
                not math.isnan(score) and (math.isnan(best_score) or score > best_score)
            )
            if improved:
                best_score, best_epoch = score, epoch
            weights, ema_weights, state_path = epoch_paths(run_dir, epoch)
            save_weights(weights, model.state_dict())
            if ema is not None:
                save_weights(ema_weights, ema.module.state_dict())
            save_state(
                state_path,
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "history": history,
                },
            )
            tracker.log_epoch(record, epoch)
            if progress:
                tqdm.write(
                    f"{config.name} epoch {epoch + 1}: loss {record['train_loss']:.3f}, "
                    f"val evidence {metrics['evidence_acc']:.3f}, item {metrics['item_acc']:.3f}, "
                    f"{record['images_per_second']:.0f} img/s"
                )
            epochs_without_gain = 0 if improved else epochs_without_gain + 1
        stop = torch.tensor(
            int(
                bool(config.train.early_stopping_patience)
                and epochs_without_gain >= (config.train.early_stopping_patience or 0)
            )
        )
        if world.world_size > 1:
            dist.broadcast(stop, src=0)
        if int(stop):
            break

    if world.main:
        _finish(config, run_dir, model, ema, val_set, val_loader, device, best_epoch, history, tracker)
    if world.world_size > 1:
        dist.barrier()
    return run_dir


def _finish(config, run_dir, model, ema, val_set, val_loader, device, best_epoch, history, tracker) -> None:
    """Best epoch's weights -> temperature scaling on validation -> model.safetensors + MLflow."""
    weights, ema_weights, _ = epoch_paths(run_dir, best_epoch)
    model.load_state_dict(load_weights(ema_weights if ema is not None else weights))
    predictions = collect(model, val_loader, device, config.train.channels_last)
    temperatures, calibration = fit_temperatures(predictions, val_set)
    taxonomy = load_taxonomy()
    metadata = {
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "backbone": config.model.backbone,
        "config": json.loads(json.dumps(config.model_dump(mode="json"))),
        "taxonomy": taxonomy.describe(),
        "preprocess": preprocess_spec(config).to_dict(),
        "temperatures": temperatures,
        "calibration": calibration,
        "best_epoch": best_epoch,
        "val_metrics": history[[h["epoch"] for h in history].index(best_epoch)] if history else {},
        "mlflow_run_id": tracker.run_id,
        "git_sha": git_sha(),
        "data_manifest_sha256": file_sha256(Path(config.data.manifest)),
    }
    final = run_dir / "model.safetensors"
    save_weights(final, model.state_dict(), metadata)
    (run_dir / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    tracker.finish(final, calibration)
