"""Training speed of each reviewer config: images per second per core, one short epoch on the
benchmark with the config's own settings (backbone, size, batch, augmentation, loader workers)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.context import REVIEWERS, BenchContext
from bench.result import ScenarioResult
from serving.bundle import usable_cores


def run(context: BenchContext) -> ScenarioResult:
    from training.checkpoint import epoch_paths, load_state
    from training.config import load_config
    from training.train import train

    cores, items = usable_cores(), context.settings.train_items
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in REVIEWERS:
            out = Path(scratch) / name
            config = load_config(
                f"configs/train/{name}.yaml",
                [
                    f"data.manifest={context.manifest}",
                    "train.epochs=1",
                    f"out_dir={out}",
                    f"tracking.tracking_uri=sqlite:///{Path(scratch) / 'mlflow.db'}",
                    "tracking.log_model=false",
                    *([f"data.max_items={items}"] if items else ["data.val_fraction=0.3"]),
                ],
            )
            train(config, progress=False, report=lambda line: None)
            record = load_state(epoch_paths(out, 0)[2])["history"][-1]
            rows.append(
                {
                    "reviewer": name,
                    "backbone": config.model.backbone,
                    "input_px": config.preprocess.size,
                    "images_per_s": record["images_per_second"],
                    "images_per_s_per_core": record["images_per_second"] / cores,
                }
            )
    notes = [
        f"one epoch of {items or 'all'} items on {cores} cores (CPU); with frozen levels cached, the "
        "epoch trains on cached features (the caching pass is not counted)"
    ]
    return ScenarioResult("training", rows, [], notes)
