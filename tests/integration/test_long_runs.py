"""Long runs (the champions' profile): stopped by Ctrl-C, resumed from the last epoch with the
feature cache on disk, finished early and then trained on."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from training.cache import open_cache
from training.checkpoint import epoch_paths, latest_epoch, load_weights, read_metadata
from training.train import train

pytestmark = pytest.mark.slow

FROZEN = ("model.frozen_levels=2", "train.augment=none", "tracking.log_model=false")


def test_ctrl_c_then_resume_reuses_the_feature_cache_and_finishes(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    config = smoke_config(tiny_manifest, tmp_path, *FROZEN, "train.epochs=3")
    overrides = [f"--set={key}" for key in (*FROZEN, "train.epochs=3")]
    command = [
        sys.executable,
        "-m",
        "secondlook.cli",
        "train",
        "--config=configs/train/smoke.yaml",
        f"--set=data.manifest={tiny_manifest}",
        f"--set=out_dir={config.out_dir}",
        f"--set=tracking.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        *overrides,
        "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 300
    for line in process.stdout:  # Ctrl-C as soon as the first epoch is on disk
        lines.append(line)
        if line.startswith("smoke epoch 1/3: loss"):
            process.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(lines)
    rest, _ = process.communicate(timeout=120)
    output = "".join(lines) + rest
    assert process.returncode != 0, output
    assert latest_epoch(Path(config.out_dir)) in (0, 1), output  # epoch 2 may have ended before the signal
    assert not (Path(config.out_dir) / "model.safetensors").exists()
    assert "Traceback" not in output
    # a log of hours says how far it is: milestones within the caching pass and each epoch
    assert re.search(r"caching the training photos: \d+ of \d+ photos \(\d+%\), [\d.]+ photos/s, ETA", output)
    assert re.search(r"^smoke epoch 1/3: \d+ of \d+ steps \(\d+%\)", output, re.MULTILINE), output
    cached = Path(config.out_dir) / "features" / "training"
    assert (cached / "fingerprint.json").exists()
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no partial cache left

    reported: list[str] = []
    train(config, resume=True, progress=False, report=reported.append)
    text = "\n".join(reported)
    assert "resumed after epoch" in text
    assert f"training photos cached: {np.load(cached / 'row.npy').shape[0]} photos reused from" in text
    history = read_metadata(Path(config.out_dir) / "model.safetensors")["val_metrics"]
    epochs = (Path(config.out_dir) / "history.csv").read_text().count("\n") - 1  # less the header
    assert history and epochs == 3


def test_a_cache_of_other_photos_or_another_size_is_not_reused(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    first = smoke_config(tiny_manifest, tmp_path, *FROZEN, "train.epochs=1")
    train(first, progress=False, report=lambda line: None)
    reported: list[str] = []
    other = smoke_config(tiny_manifest, tmp_path, *FROZEN, "train.epochs=1", "preprocess.size=80")
    (Path(other.out_dir) / "checkpoints").rename(tmp_path / "old_checkpoints")  # a new run, same folder
    train(other, progress=False, report=reported.append)
    assert not any("reused from" in line for line in reported)
    level = np.load(Path(other.out_dir) / "features" / "training" / "frozen_0.npy", mmap_mode="r")
    assert level.shape[-1] == 80 // 4  # the stride-4 level of 80 px photos, not of the first run's 64


def test_finish_calibrates_the_best_epoch_so_far_and_a_later_resume_trains_on(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    config = smoke_config(tiny_manifest, tmp_path, *FROZEN, "train.epochs=3")
    straight = smoke_config(tiny_manifest, tmp_path / "straight", *FROZEN, "train.epochs=3")
    run_dir = train(straight, progress=False, report=lambda line: None)
    final = load_weights(epoch_paths(run_dir, 2)[0])

    run_dir = Path(config.out_dir)
    train(config, progress=False, report=lambda line: None)
    for epoch in (1, 2):  # as if stopped after the first epoch
        for path in epoch_paths(run_dir, epoch):
            path.unlink(missing_ok=True)
    (run_dir / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="--resume"):
        train(config, progress=False, finish_now=True)
    train(config, resume=True, progress=False, report=lambda line: None, finish_now=True)
    assert read_metadata(run_dir / "model.safetensors")["best_epoch"] == 0
    assert latest_epoch(run_dir) == 0  # finishing trained nothing and kept the checkpoints

    train(config, resume=True, progress=False, report=lambda line: None)
    assert latest_epoch(run_dir) == 2
    resumed = load_weights(epoch_paths(run_dir, 2)[0])
    for key in final:  # the interruption and the early finish changed nothing
        torch.testing.assert_close(resumed[key], final[key], rtol=0, atol=1e-6, msg=key)


def test_cached_features_stream_from_disk(tiny_manifest: Path, tmp_path: Path, smoke_config) -> None:
    """The cache is memory-mapped, so a cache larger than memory is read from disk as needed."""
    config = smoke_config(tiny_manifest, tmp_path, *FROZEN, "train.epochs=1")
    train(config, progress=False, report=lambda line: None)
    folder = Path(config.out_dir) / "features" / "training"
    recorded = json.loads((folder / "fingerprint.json").read_text())
    photos = open_cache(folder, recorded["fingerprint"], (64, 64))
    assert photos is not None and len(photos) == recorded["photos"]
    assert all(isinstance(level, np.memmap) and level.dtype == np.float16 for level in photos.levels)
    assert open_cache(folder, {**recorded["fingerprint"], "backbone": "other"}, (64, 64)) is None
