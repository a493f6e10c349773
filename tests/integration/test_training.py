"""Training end to end on a tiny generated benchmark: smoke run, resume, DDP, learning."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from serving.preprocess import PreprocessSpec
from training.checkpoint import epoch_paths, load_weights, read_metadata
from training.config import DataConfig, load_config
from training.data import PhotoDataset, load_splits
from training.losses import multitask_loss
from training.model import Reviewer
from training.train import train

pytestmark = pytest.mark.slow


def test_smoke_training_writes_a_calibrated_model_and_an_mlflow_run(smoke_run: tuple[Path, Path]) -> None:
    run_dir, out = smoke_run
    metadata = read_metadata(run_dir / "model.safetensors")
    assert metadata["backbone"] == "mobilenetv3_small_050"
    assert set(metadata["temperatures"]) >= {"view", "evidence", "condition_grade"}
    assert all(v > 0 for v in metadata["temperatures"].values())
    assert "ece_before" in metadata["calibration"]["evidence"]
    assert metadata["preprocess"]["size"] == 64
    assert (run_dir / "config.yaml").read_text().startswith("name: smoke")

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
    run = mlflow.get_run(metadata["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert {"val_view", "val_category", "val_condition", "val_defects_auroc", "val_score"} <= set(
        run.data.metrics
    )
    assert "train_loss" in run.data.metrics
    assert run.data.tags["taxonomy_version"] and len(run.data.tags["data_manifest_sha256"]) == 64
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
    assert len(history) == 2


def test_logged_pyfunc_predicts_on_photo_bytes(smoke_run: tuple[Path, Path], tiny_manifest: Path) -> None:
    import base64

    import mlflow

    run_dir, out = smoke_run
    mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
    run_id = read_metadata(run_dir / "model.safetensors")["mlflow_run_id"]
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    photos = sorted(tiny_manifest.parent.glob("images/*/*.jpg"))[:3]
    frame = pd.DataFrame({"image": [base64.b64encode(p.read_bytes()).decode() for p in photos]})
    result = model.predict(frame)
    assert len(result) == 3
    assert result["evidence"].between(0, 1).all()
    assert set(result["view"]) <= {"overall", "hardware", "stamp", "detail"}
    # the model carries our sources only (data/ once dragged rendered benchmarks along)
    code = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model")) / "code"
    assert (code / "training" / "pyfunc.py").is_file()
    assert {p.suffix for p in code.rglob("*") if p.is_file()} <= {".py", ".yaml"}


def test_evaluate_writes_report_metrics_and_plots(
    smoke_run: tuple[Path, Path], tiny_manifest: Path, tmp_path: Path
) -> None:
    import json

    run_dir, _ = smoke_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "secondlook.cli",
            "evaluate",
            "--checkpoint",
            str(run_dir / "model.safetensors"),
            "--data",
            str(tiny_manifest),
            "--split",
            "all",
            "--out",
            str(tmp_path / "eval"),
            "--workers",
            "0",
            "--intervals",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    from training.evaluate import headline

    for key, figure in headline(metrics).items():  # each figure inside its bootstrap interval
        low, high = metrics["intervals"][key]
        assert math.isnan(figure) or low - 1e-9 <= figure <= high + 1e-9, (key, figure, low, high)
    assert "95% interval" in result.stdout
    assert metrics["items"] == 14 and 0 <= metrics["authenticity_item"]["accuracy"] <= 1
    assert set(metrics["defects"]) <= {"scratch", "scuff", "stain", "tear", "tarnish"}
    assert metrics["cues"], "the per-cue error table must list the cues present"
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Errors per counterfeit cue" in report
    for plot in ("confusion_view.png", "reliability.png", "risk_coverage.png"):
        assert (tmp_path / "eval" / plot).stat().st_size > 1000
    items = pd.read_csv(tmp_path / "eval" / "items.csv")
    assert len(items) == 14 and items["p_counterfeit"].between(0, 1).all()
    assert items["label"].sum() == metrics["items"] // 2  # the benchmark's exact counterfeit share

    # the reviewer against itself: the same errors, full agreement
    compared = subprocess.run(
        [
            sys.executable,
            "-m",
            "secondlook.cli",
            "compare",
            str(tmp_path / "eval"),
            str(tmp_path / "eval"),
            "--out",
            str(tmp_path / "agreement.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "error correlation" in compared.stdout
    stats = json.loads((tmp_path / "agreement.json").read_text())
    assert stats["agreement"] == 1.0 and stats["both_wrong"] == stats["error_a"]


def test_cached_frozen_features_train_and_report_every_epoch(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    """With frozen levels each photo goes through them once; the rest trains on the cache, and
    the run says so, then prints a line per epoch and every head's validation figure."""
    lines: list[str] = []
    config = smoke_config(
        tiny_manifest,
        tmp_path,
        "model.frozen_levels=2",
        "train.augment=none",
        "train.epochs=2",
        "tracking.log_model=false",
    )
    run_dir = train(config, progress=False, report=lines.append)
    text = "\n".join(lines)
    assert lines[0].startswith("smoke: training in ")  # the precision, which sets the pace
    assert "frozen ImageNet features of the training photos cached" in text
    # One line per epoch; between them, a quiet run's milestones say how far the epoch is.
    epochs = [i for i, line in enumerate(lines) if re.match(r"smoke epoch \d+/2: loss ", line)]
    assert len(epochs) == 2
    milestones = [line for line in lines if re.match(r"smoke epoch 1/2: \d+ of \d+ steps \(\d+%\)", line)]
    assert milestones and all("ETA" in line for line in milestones)
    assert "ETA" in lines[epochs[-1]] and "loss" in lines[epochs[-1]]
    # After the last epoch, the condition head is fitted to convergence on the training items.
    assert "condition head fitted to convergence on" in lines[epochs[-1] + 1]
    for head in ("view", "category (overall photos)", "condition grade, item exact", "defects, pixel AUROC"):
        assert f"| {head}" in text
    assert read_metadata(run_dir / "model.safetensors")["config"]["model"]["frozen_levels"] == 2
    with pytest.raises(ValueError, match="augment"):
        smoke_config(tiny_manifest, tmp_path, "model.frozen_levels=2", "train.augment=light")


def test_refuses_to_overwrite_a_run_without_resume(tiny_manifest: Path, tmp_path: Path, smoke_config) -> None:
    config = smoke_config(tiny_manifest, tmp_path, "train.epochs=1")
    train(config, progress=False)
    with pytest.raises(ValueError, match="--resume"):
        train(config, progress=False)


def test_resume_after_interruption_gives_the_same_weights(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    config = smoke_config(tiny_manifest, tmp_path, "train.epochs=3")
    run_dir = train(config, progress=False)
    final = load_weights(epoch_paths(run_dir, 2)[0])
    # Interrupt after epoch 1: drop what came later, then resume.
    for epoch in (1, 2):
        for path in epoch_paths(run_dir, epoch):
            path.unlink(missing_ok=True)
    (run_dir / "model.safetensors").unlink()
    train(config, resume=True, progress=False)
    resumed = load_weights(epoch_paths(run_dir, 2)[0])
    assert final.keys() == resumed.keys()
    for key in final:
        torch.testing.assert_close(resumed[key], final[key], rtol=0, atol=1e-6, msg=key)


def test_loss_goes_down_on_a_fixed_batch(tiny_manifest: Path) -> None:
    torch.manual_seed(0)
    splits = load_splits(DataConfig(manifest=tiny_manifest, split_seed=0, val_fraction=0.3))
    dataset = PhotoDataset(splits.train.head(16), tiny_manifest, PreprocessSpec(size=64))
    batch = {k: torch.stack([dataset[i][k] for i in range(len(dataset))]) for k in dataset[0]}
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    weights = load_config(None).loss_weights
    losses = []
    for _ in range(25):
        model.train()
        loss, _ = multitask_loss(model(batch["image"]), batch, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_the_dataset_gives_the_cue_region_of_exactly_the_photos_that_show_a_cue(tiny_manifest: Path) -> None:
    from data.manifest import read_manifest, split_list

    frame = read_manifest(tiny_manifest)
    dataset = PhotoDataset(frame, tiny_manifest, PreprocessSpec(size=64), "none")
    for i, cues in enumerate(frame["cues"]):
        region = dataset[i]["cue_region"]
        assert region.shape == (16, 16)
        assert bool(region.any()) == bool(split_list(cues))


def test_two_process_ddp_run_on_cpu(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "secondlook.cli",
        "train",
        "--config",
        "configs/train/smoke.yaml",
        "--quiet",
        "--set",
        f"data.manifest={tiny_manifest}",
        "--set",
        f"out_dir={out / 'run'}",
        "--set",
        f"tracking.tracking_uri=sqlite:///{out}/mlflow.db",
        "--set",
        "train.epochs=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "run" / "model.safetensors").exists()
    assert read_metadata(out / "run" / "model.safetensors")["best_epoch"] == 0
    shutil.rmtree(out, ignore_errors=True)


def test_training_input_equals_serving_preprocess(tiny_manifest: Path) -> None:
    """One preprocessing: the dataset's un-augmented tensor is serving's preprocess, bit for bit."""

    from data.decode import decode_image
    from data.manifest import read_manifest, resolve_image_path
    from serving.preprocess import preprocess

    frame = read_manifest(tiny_manifest).head(4)
    spec = PreprocessSpec(size=96)
    dataset = PhotoDataset(frame, tiny_manifest, spec, "none")
    for i, path in enumerate(frame["image_path"]):
        expected = preprocess(decode_image(resolve_image_path(tiny_manifest, path)), spec)
        np.testing.assert_array_equal(dataset[i]["image"].numpy(), expected)


def test_ema_class_weights_and_early_stopping_options_run(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    from training.checkpoint import latest_epoch, load_state

    config = smoke_config(
        tiny_manifest,
        tmp_path,
        "train.epochs=6",
        "train.ema=true",
        "train.class_weights=true",
        "train.early_stopping_patience=1",
        "tracking.log_model=false",
    )
    run_dir = train(config, progress=False)
    last = latest_epoch(run_dir)
    assert epoch_paths(run_dir, last)[1].exists(), "EMA weights are checkpointed"
    history = load_state(epoch_paths(run_dir, last)[2])["history"]
    best = load_state(epoch_paths(run_dir, last)[2])["best_epoch"]
    # Early stopping: the run ends one epoch after the last improvement, or at the epoch limit.
    assert last == min(best + 1, 5)
    assert len(history) == last + 1
    assert (run_dir / "model.safetensors").exists()


def test_a_manifest_with_only_some_labels_trains_the_heads_it_can(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    """A shop's table with views and categories only: no masks, grades or cues to learn from."""
    from data.manifest import read_manifest

    frame = read_manifest(tiny_manifest)
    for column in ("defects", "mask_path", "mask_class", "condition_grade", "cues", "item_cues"):
        frame[column] = None
    frame["image_path"] = [str(tiny_manifest.parent / p) for p in frame["image_path"]]
    partial = tmp_path / "partial.csv"
    frame.to_csv(partial, index=False)
    config = smoke_config(partial, tmp_path, "train.epochs=1", "tracking.log_model=false")
    metadata = read_metadata(train(config, progress=False, report=lambda line: None) / "model.safetensors")
    assert metadata["defect_thresholds"] == {}
    assert metadata["val_calibrated"]["view"] >= 0 and math.isnan(metadata["val_calibrated"]["condition"])


def test_learning_curves_train_each_benchmark_and_plot_every_epoch(
    tiny_manifest: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from training.cli import curves

    out = tmp_path / "curves"
    result = CliRunner().invoke(
        curves,
        [
            "--config", "configs/train/smoke.yaml",
            "--benchmark", f"tiny={tiny_manifest}",
            "--epochs", "2",
            "--items", "3", "--items", "1000",  # the first 3 training items, then all of them
            "--set", f"tracking.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
            "--set", "train.max_steps_per_epoch=2",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "curves.csv")
    train_items = pd.read_csv(tiny_manifest).query("split == 'train'")["item_id"].nunique()
    assert frame["benchmark"].tolist() == ["tiny"] * 4
    assert frame["train_items"].tolist() == [3, 3, train_items, train_items]
    for _, run in frame.groupby("train_items"):
        assert run["photos_seen"].is_monotonic_increasing and run["wall_seconds"].is_monotonic_increasing
    assert {"val_item_auc", "val_cue_recall", "val_coverage_at_1pct"} <= set(frame.columns)
    assert (out / "learning_curves.png").stat().st_size > 10_000
    table = (out / "curves.md").read_text()
    assert "| tiny, 3 items | 3 |" in table
    assert f"| tiny, {train_items} items | {train_items} |" in result.output
    assert f"power law through the last epoch of the runs on 3, {train_items} training items" in table
    # validated on the benchmark's own val split, not a partition of its train items: both runs
    # print the same val split's size (the line, not any "(N photos/s)" throughput that may match)
    val_items = pd.read_csv(tiny_manifest).query("split == 'val'")["item_id"].nunique()
    assert result.output.count(f"validation ({val_items * 4} photos, calibrated)") == 2
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    logged = mlflow.search_runs(
        experiment_names=["secondlook-tests"], filter_string="run_name = 'learning-curves'"
    )
    artifacts = mlflow.artifacts.list_artifacts(run_id=logged["run_id"].iloc[0])
    assert {a.path for a in artifacts} == {"curves.csv", "learning_curves.png", "curves.md"}


def test_a_view_specialist_trains_evaluates_on_its_views_and_does_not_export(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    """`data.views`: the reviewer trains and is scored on those views' photos only; the panel's
    reviewers score every photo, so a specialist's export is refused before anything is written."""
    from training.evaluate import predict_split
    from training.export import ExportError, export

    config = smoke_config(tiny_manifest, tmp_path, "data.views=[stamp, hardware]", "tracking.log_model=false")
    run_dir = train(config, progress=False)
    _, dataset, _ = predict_split(run_dir / "model.safetensors", tiny_manifest, "all", workers=0)
    assert set(dataset.frame["view"]) == {"stamp", "hardware"}
    assert len(dataset.frame) == 2 * pd.read_csv(tiny_manifest)["item_id"].nunique()
    with pytest.raises(ExportError, match="view specialist"):
        export(run_dir / "model.safetensors", tmp_path / "bundle", tiny_manifest)
    assert not (tmp_path / "bundle").exists()


def test_a_reviewer_with_a_branch_per_view_trains_exports_and_matches_its_bundle(
    tiny_manifest: Path, tmp_path: Path, smoke_config
) -> None:
    """`model.view_branches`: training routes photos by their labelled view, evaluation by the
    router; the bundle runs every branch and keeps the routed one, and the export's parity check
    holds it to the checkpoint."""
    from training.evaluate import predict_split
    from training.export import export

    config = smoke_config(
        tiny_manifest,
        tmp_path,
        "model.frozen_levels=2",
        "model.view_branches=true",
        "model.cue_heads=per_view",
        "train.augment=none",
        "tracking.log_model=false",
    )
    run_dir = train(config, progress=False)
    report = export(run_dir / "model.safetensors", tmp_path / "bundle", tiny_manifest)
    checkpoint, dataset, _ = predict_split(run_dir / "model.safetensors", tiny_manifest, "all", workers=0)
    bundle, _, _ = predict_split(report.bundle, tiny_manifest, "all", workers=0)
    assert len(dataset.frame) == len(pd.read_csv(tiny_manifest))
    for task in ("view", "stamp_type", "evidence", "cues"):
        np.testing.assert_allclose(bundle[task], checkpoint[task], atol=2e-3, err_msg=task)
