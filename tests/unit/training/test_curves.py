"""What the learning curves conclude from a history: the budget a power law reaches, or flat."""

from __future__ import annotations

import pandas as pd
import pytest

from training.curves import items_for_accuracy, photos_for_accuracy, summary


def _history(photos: list[float], accuracy: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "photos_seen": photos,
            "wall_seconds": [60.0 * (i + 1) for i in range(len(photos))],
            "val_item_auc": [0.9] * len(photos),
            "val_item_accuracy": accuracy,
            "val_cue_recall": [0.5] * len(photos),
            "val_coverage_at_1pct": [0.1] * len(photos),
        }
    )


def test_a_power_law_is_extrapolated_to_the_budget_that_reaches_99_percent() -> None:
    photos = [1_000.0, 2_000.0, 4_000.0, 8_000.0]
    error = [0.2 * (p / 1_000) ** -1 for p in photos]  # error halves when the photos double
    needed = photos_for_accuracy(_history(photos, [1 - e for e in error]))
    assert needed == pytest.approx(1_000 * 0.2 / 0.01, rel=1e-6)  # 20,000 photos


def test_a_flat_curve_names_no_budget() -> None:
    history = _history([1_000.0, 2_000.0, 4_000.0, 8_000.0], [0.55, 0.56, 0.55, 0.56])
    assert photos_for_accuracy(history) is None
    assert "too flat" in summary(history.assign(benchmark="standard", series="standard", train_items=700))
    # a slope that would need a million times the photos is not extrapolated either
    slow = _history(
        [1_000.0, 2_000.0, 4_000.0, 8_000.0], [1 - 0.4 * (p / 1_000) ** -0.1 for p in (1, 2, 4, 8)]
    )
    assert photos_for_accuracy(slow) is None


def test_more_items_extrapolate_from_the_last_epoch_of_each_run() -> None:
    """Runs on 100, 200 and 400 items whose final error halves when the items double reach 1%
    error at 20x the 100-item error of 0.2, i.e. 2,000 items; earlier epochs do not count."""
    runs = []
    for items in (100, 200, 400):
        final = 1 - 0.2 * (items / 100) ** -1
        run = _history([1_000.0 * items, 2_000.0 * items], [0.5, final])
        runs.append(run.assign(benchmark="standard", series=f"standard, {items} items", train_items=items))
    frame = pd.concat(runs, ignore_index=True)
    assert items_for_accuracy(frame) == pytest.approx(2_000, rel=1e-6)
    text = summary(frame)
    assert "| standard, 400 items | 400 |" in text
    assert "standard: about 2,000 training items for 99% item accuracy" in text
    flat = frame.assign(val_item_accuracy=0.6)
    assert items_for_accuracy(flat) is None and "too flat" in summary(flat).split("More items")[1]


def test_best_threshold_accuracy_ignores_where_calibration_put_one_half() -> None:
    import numpy as np

    from training.metrics import best_threshold_accuracy

    label = np.array([0, 0, 1, 1, 0, 1])
    assert best_threshold_accuracy(np.array([0.01, 0.02, 0.03, 0.04, 0.02, 0.05]), label) == 1.0
    assert (
        best_threshold_accuracy(np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.3]), label) == 0.5
    )  # ties split nothing
    assert best_threshold_accuracy(np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3]), label) == 0.5
