"""`secondlook train curve`: what more training buys, as learning curves.

One reviewer is trained per benchmark (for example `easy` and `standard`), validated after
every epoch on the benchmark's own `val` split (many more items than a reviewer's partition,
so the figures are steadier), and each epoch's item ROC-AUC, mean per-cue item recall at a 5%
false-positive rate, and the share of items one reviewer decides at 1% error are plotted
against photos seen and wall-clock time. A power law fitted to the item error (at the best
threshold) of the later epochs says how many photos the recipe would need for 99% item
accuracy, or that the curve is too flat to say within 30 times the photos it has seen.

Each point is an epoch of one run, not a run of its own: its learning rate has not yet
decayed, so a run stopped there on purpose would do a little better. The curves are a lower
bound on what each budget buys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data.atomic import atomic_write_bytes, atomic_write_text

CURVE_FILE = "curves.csv"
PLOT_FILE = "learning_curves.png"
SUMMARY_FILE = "curves.md"
TARGET_ITEM_ACCURACY = 0.99
# (history column, what the plot calls it)
FIGURES: tuple[tuple[str, str], ...] = (
    ("val_item_auc", "item ROC-AUC"),
    ("val_cue_recall", "per-cue item recall at 5% FPR (mean)"),
    ("val_coverage_at_1pct", "items one reviewer decides at 1% error"),
)
FLAT_SLOPE = -0.05  # error ~ photos^slope: flatter than this, more photos buy next to nothing
MAX_EXTRAPOLATION = 30.0  # a power law is not trusted further than this many times the photos seen


def photos_for_accuracy(history: pd.DataFrame, target: float = TARGET_ITEM_ACCURACY) -> float | None:
    """Photos seen at which a power law through the later half of the epochs (item error at the
    best threshold against photos seen, on log-log axes) reaches `target` item accuracy; None
    when the curve is flat or the budget lies beyond MAX_EXTRAPOLATION times the photos seen."""
    points = history.dropna(subset=["val_item_accuracy"])
    points = points.iloc[len(points) // 2 :]
    if len(points) < 2:
        return None
    error = np.clip(1.0 - points["val_item_accuracy"].to_numpy(float), 1e-4, 1.0)
    photos = points["photos_seen"].to_numpy(float)
    slope, intercept = np.polyfit(np.log(photos), np.log(error), 1)
    if slope > FLAT_SLOPE:
        return None
    needed = math.exp((math.log(1.0 - target) - intercept) / slope)
    return float(needed) if needed <= MAX_EXTRAPOLATION * photos.max() else None


def plot_curves(frame: pd.DataFrame, path: Path) -> None:
    """One column per figure; top row against photos seen, bottom row against wall-clock minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(FIGURES), figsize=(5 * len(FIGURES), 7), squeeze=False)
    for column, (key, label) in enumerate(FIGURES):
        for benchmark, rows in frame.groupby("benchmark", sort=False):
            for row, (x, xlabel) in enumerate(
                ((rows["photos_seen"], "photos seen"), (rows["wall_seconds"] / 60, "wall-clock minutes"))
            ):
                ax = axes[row][column]
                ax.plot(x, rows[key], marker="o", label=str(benchmark))
                ax.set_xlabel(xlabel)
                ax.set_ylabel(label)
                ax.set_ylim(0, 1.02)
                ax.grid(alpha=0.3)
        axes[0][column].set_title(label)
    axes[0][0].legend(title="benchmark")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def summary(frame: pd.DataFrame) -> str:
    """The last epoch's figures per benchmark and the extrapolated budget, as Markdown."""
    lines = [
        "| benchmark | photos seen | minutes | item ROC-AUC | item accuracy (best threshold) "
        "| per-cue recall at 5% FPR "
        "| decided at 1% error | photos for 99% item accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for benchmark, rows in frame.groupby("benchmark", sort=False):
        last = rows.iloc[-1]
        needed = photos_for_accuracy(rows)
        budget = (
            f"not within {MAX_EXTRAPOLATION:.0f}x these photos (too flat to extrapolate)"
            if needed is None
            else f"about {needed:,.0f}"
        )
        lines.append(
            f"| {benchmark} | {int(last['photos_seen']):,} | {last['wall_seconds'] / 60:.1f} | "
            f"{last['val_item_auc']:.3f} | {last['val_item_accuracy']:.3f} | {last['val_cue_recall']:.3f} | "
            f"{last['val_coverage_at_1pct']:.3f} | {budget} |"
        )
    return "\n".join(lines) + "\n"


def learning_curves(
    config_path: Path,
    manifests: dict[str, Path],
    epochs: int,
    out_dir: Path,
    overrides: list[str],
    report: Callable[[str], None],
) -> pd.DataFrame:
    """Train one reviewer per benchmark and write curves.csv, learning_curves.png and curves.md
    to `out_dir` (and as the artifacts of an MLflow run named learning-curves); returns the curves."""
    from training.config import load_config
    from training.tracking import log_artifacts
    from training.train import HISTORY_FILE, train

    parts, config = [], None
    for benchmark, manifest in manifests.items():
        config = load_config(
            config_path,
            [
                *overrides,
                f"data.manifest={manifest}",
                f"out_dir={out_dir / benchmark}",
                f"train.epochs={epochs}",
                "data.validation=benchmark",
                "tracking.log_model=false",
            ],
        )
        report(f"learning curve on {benchmark} ({manifest}): {epochs} epochs")
        run_dir = train(config, progress=False, report=report)
        parts.append(pd.read_csv(run_dir / HISTORY_FILE).assign(benchmark=benchmark))
    frame = pd.concat(parts, ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / CURVE_FILE, frame.to_csv(index=False).encode())
    plot_curves(frame, out_dir / PLOT_FILE)
    atomic_write_text(out_dir / SUMMARY_FILE, summary(frame))
    if config is not None:
        run_id = log_artifacts(
            config, "learning-curves", [out_dir / n for n in (CURVE_FILE, PLOT_FILE, SUMMARY_FILE)]
        )
        report(f"learning curves logged to MLflow run {run_id}")
    return frame
