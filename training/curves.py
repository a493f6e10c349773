"""`secondlook curves`: what more training buys, as learning curves.

One reviewer is trained per benchmark (for example `easy` and `standard`) and, with
`--items`, per number of training items (the first N of the benchmark's training items), each
validated after every epoch on the benchmark's own `val` split (many more items than a
reviewer's partition, so the figures are steadier). Each epoch's item ROC-AUC, mean per-cue
item recall at a 5% false-positive rate, and the share of items one reviewer decides at 1%
error are plotted against photos seen and wall-clock time, one line per run.

Two extrapolations say what 99% item accuracy would cost, each a power law of the item error
(at the best threshold) trusted no further than 30 times what was measured: more epochs (the
later epochs of a run, against photos seen) and more items (the last epoch of each run,
against training items). A curve flatter than error ~ x^-0.05 is called too flat to say.

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


def budget_for_accuracy(
    budget: np.ndarray, accuracy: np.ndarray, target: float = TARGET_ITEM_ACCURACY
) -> float | None:
    """The budget (photos seen, training items) at which a power law through these points (item
    error against budget, on log-log axes) reaches `target` item accuracy; None when the curve
    is flat or the budget lies beyond MAX_EXTRAPOLATION times the largest one measured."""
    if len(budget) < 2 or np.ptp(budget) == 0:
        return None
    error = np.clip(1.0 - np.asarray(accuracy, float), 1e-4, 1.0)
    slope, intercept = np.polyfit(np.log(np.asarray(budget, float)), np.log(error), 1)
    if slope > FLAT_SLOPE:
        return None
    needed = math.exp((math.log(1.0 - target) - intercept) / slope)
    return float(needed) if needed <= MAX_EXTRAPOLATION * float(np.max(budget)) else None


def photos_for_accuracy(history: pd.DataFrame, target: float = TARGET_ITEM_ACCURACY) -> float | None:
    """Photos seen for `target` item accuracy by more epochs: `budget_for_accuracy` over the
    later half of one run's epochs."""
    points = history.dropna(subset=["val_item_accuracy"])
    points = points.iloc[len(points) // 2 :]
    return budget_for_accuracy(
        points["photos_seen"].to_numpy(float), points["val_item_accuracy"].to_numpy(float), target
    )


def items_for_accuracy(frame: pd.DataFrame, target: float = TARGET_ITEM_ACCURACY) -> float | None:
    """Training items for `target` item accuracy by more items: `budget_for_accuracy` over the
    last epoch of each run of one benchmark (runs that differ in `train_items`)."""
    last = frame.dropna(subset=["val_item_accuracy"]).groupby("train_items").tail(1)
    return budget_for_accuracy(
        last["train_items"].to_numpy(float), last["val_item_accuracy"].to_numpy(float), target
    )


def _counts(rows: pd.DataFrame) -> str:
    return ", ".join(f"{n:,}" for n in sorted(rows["train_items"].unique()))


def _budget(needed: float | None, unit: str) -> str:
    if needed is None:
        return f"not within {MAX_EXTRAPOLATION:.0f}x (too flat to extrapolate)"
    return f"about {needed:,.0f} {unit}"


def plot_curves(frame: pd.DataFrame, path: Path) -> None:
    """One column per figure; top row against photos seen, bottom row against wall-clock minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(FIGURES), figsize=(5 * len(FIGURES), 7), squeeze=False)
    for column, (key, label) in enumerate(FIGURES):
        for series, rows in frame.groupby("series", sort=False):
            for row, (x, xlabel) in enumerate(
                ((rows["photos_seen"], "photos seen"), (rows["wall_seconds"] / 60, "wall-clock minutes"))
            ):
                ax = axes[row][column]
                ax.plot(x, rows[key], marker="o", label=str(series))
                ax.set_xlabel(xlabel)
                ax.set_ylabel(label)
                ax.set_ylim(0, 1.02)
                ax.grid(alpha=0.3)
        axes[0][column].set_title(label)
    axes[0][0].legend(title="run", fontsize="small")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def summary(frame: pd.DataFrame) -> str:
    """The last epoch's figures per run, the budgets extrapolated from more epochs (per run) and
    from more items (per benchmark with several item counts), as Markdown."""
    lines = [
        "| run | training items | photos seen | minutes | item ROC-AUC | item accuracy (best threshold) "
        "| per-cue recall at 5% FPR | decided at 1% error | photos for 99% item accuracy (more epochs) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for series, rows in frame.groupby("series", sort=False):
        last = rows.iloc[-1]
        lines.append(
            f"| {series} | {int(last['train_items']):,} | {int(last['photos_seen']):,} | "
            f"{last['wall_seconds'] / 60:.1f} | {last['val_item_auc']:.3f} | "
            f"{last['val_item_accuracy']:.3f} | "
            f"{last['val_cue_recall']:.3f} | {last['val_coverage_at_1pct']:.3f} | "
            f"{_budget(photos_for_accuracy(rows), 'photos')} |"
        )
    scaling = [
        f"- {benchmark}: {_budget(items_for_accuracy(rows), 'training items')} for 99% item accuracy "
        f"(power law through the last epoch of the runs on {_counts(rows)} training items)"
        for benchmark, rows in frame.groupby("benchmark", sort=False)
        if rows["train_items"].nunique() > 1
    ]
    if scaling:
        lines += ["", "More items, same epochs:", *scaling]
    return "\n".join(lines) + "\n"


def learning_curves(
    config_path: Path,
    manifests: dict[str, Path],
    epochs: int,
    out_dir: Path,
    overrides: list[str],
    report: Callable[[str], None],
    items: list[int] | None = None,
) -> pd.DataFrame:
    """Train one reviewer per benchmark (and per number of training items in `items`; None:
    all of them) and write curves.csv, learning_curves.png and curves.md to `out_dir` (and as
    the artifacts of an MLflow run named learning-curves); returns the curves."""
    from training.config import load_config
    from training.data import load_splits
    from training.tracking import log_artifacts
    from training.train import HISTORY_FILE, train

    parts, config = [], None
    counts: list[int | None] = [*items] if items else [None]  # None: all the training items
    for benchmark, manifest in manifests.items():
        available = None  # the benchmark's training items, read once
        for count in counts:
            name = benchmark if count is None else f"{benchmark}/items_{count}"
            config = load_config(
                config_path,
                [
                    *overrides,
                    f"data.manifest={manifest}",
                    f"out_dir={out_dir / name}",
                    f"train.epochs={epochs}",
                    "data.validation=benchmark",
                    f"data.train_items={'null' if count is None else count}",
                    "tracking.log_model=false",
                ],
            )
            if available is None:
                splits = load_splits(config.data.model_copy(update={"train_items": None}))
                available = splits.train["item_id"].nunique()
            used = available if count is None else min(count, available)  # as data.train_items keeps
            series = benchmark if count is None else f"{benchmark}, {used:,} items"
            report(f"learning curve on {benchmark} ({manifest}), {used:,} training items: {epochs} epochs")
            run_dir = train(config, progress=False, report=report)
            history = pd.read_csv(run_dir / HISTORY_FILE)
            parts.append(history.assign(benchmark=benchmark, train_items=used, series=series))
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
