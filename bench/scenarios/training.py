"""Training speed of each reviewer config: images per second per core, one short epoch on the
benchmark with the config's own settings (backbone, size, batch, augmentation, loader workers),
side by side in float32 and in the mixed precision the config trains in by default
(`training.precision`: bfloat16 on a CPU that computes it natively), for the training steps
and for the pass that caches the frozen levels."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import torch

from bench.context import REVIEWERS, BenchContext
from bench.result import Goal, ScenarioResult
from serving.bundle import usable_cores

CACHED = re.compile(r"training photos cached: \d+ photos in \S+ s \((\d+)/s\)")


def run(context: BenchContext) -> ScenarioResult:
    from training.checkpoint import epoch_paths, load_state
    from training.config import load_config
    from training.precision import autocast_dtype
    from training.train import train

    cores, items = usable_cores(), context.settings.train_items
    lower = autocast_dtype(torch.device("cpu"), enabled=True)
    mixed = str(lower).removeprefix("torch.") if lower is not None else None
    rows, goals = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for name in REVIEWERS:
            speed: dict[bool, float] = {}
            for amp in (False, True):
                out = Path(scratch) / f"{name}-{amp}"
                config = load_config(
                    f"configs/train/{name}.yaml",
                    [
                        f"data.manifest={context.manifest}",
                        "train.epochs=1",
                        f"train.amp={str(amp).lower()}",
                        f"out_dir={out}",
                        f"tracking.tracking_uri=sqlite:///{Path(scratch) / 'mlflow.db'}",
                        "tracking.log_model=false",
                        *([f"data.max_items={items}"] if items else ["data.val_fraction=0.3"]),
                    ],
                )
                lines: list[str] = []
                train(config, progress=False, report=lines.append)
                record = load_state(epoch_paths(out, 0)[2])["history"][-1]
                cached = [int(m.group(1)) for line in lines if (m := CACHED.search(line))]
                speed[amp] = record["images_per_second"]
                rows.append(
                    {
                        "reviewer": name,
                        "backbone": config.model.backbone,
                        "input_px": config.preprocess.size,
                        "frozen_levels": config.model.frozen_levels,
                        "precision": mixed if amp and mixed else "float32",
                        "images_per_s": record["images_per_second"],
                        "images_per_s_per_core": record["images_per_second"] / cores,
                        "caching_photos_per_s": cached[0] if cached else None,
                    }
                )
            if lower is not None:
                ratio = speed[True] / speed[False]
                goals.append(Goal.at_least(f"{name} {mixed} vs float32 training", ratio, 1.3))
    notes = [
        f"one epoch of {items or 'all'} items on {cores} cores (CPU); with frozen levels cached, the "
        "epoch trains on cached features (the caching pass is measured apart, in photos per second)",
        "mixed precision: "
        + (f"{mixed}, depthwise convolutions in float32" if mixed else "none on this CPU (float32 twice)"),
    ]
    return ScenarioResult("training", rows, goals, notes)
