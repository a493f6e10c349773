"""What the learning curves conclude from a history: the budget a power law reaches, or flat."""

from __future__ import annotations

import pandas as pd
import pytest

from training.curves import photos_for_accuracy, summary


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
    error = [0.2 * (p / 1_000) ** -0.5 for p in photos]  # error halves every 4x photos
    needed = photos_for_accuracy(_history(photos, [1 - e for e in error]))
    assert needed == pytest.approx(1_000 * (0.2 / 0.01) ** 2, rel=1e-6)  # 400,000 photos


def test_a_flat_curve_names_no_budget() -> None:
    history = _history([1_000.0, 2_000.0, 4_000.0, 8_000.0], [0.55, 0.56, 0.55, 0.56])
    assert photos_for_accuracy(history) is None
    assert "flat" in summary(history.assign(benchmark="standard"))
