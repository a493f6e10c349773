"""Per-photo findings from the reviewers' masks: resolutions reconciled, fitted thresholds used."""

from __future__ import annotations

import numpy as np

from serving.runner import defect_findings, mean_masks

CLASSES = ("scratch", "scuff", "stain", "tear", "tarnish")


def test_masks_of_reviewers_at_different_resolutions_are_averaged_at_the_finest() -> None:
    a = np.zeros((2, 5, 56, 56), np.float32)
    b = np.zeros((2, 5, 60, 60), np.float32)
    a[0, 2, 10:20, 10:20] = 1.0
    b[0, 2, 10:22, 10:22] = 1.0
    mean = mean_masks([a, b])
    assert mean.shape == (2, 5, 60, 60)
    assert mean[0, 2, 15, 15] == 1.0 and mean[1].max() == 0.0


def test_a_defect_below_the_default_but_above_its_fitted_threshold_is_found() -> None:
    masks = np.zeros((5, 20, 20), np.float32)
    masks[2, 5:10, 5:10] = 0.3  # a faint stain
    assert defect_findings(masks, CLASSES) == []
    found = defect_findings(masks, CLASSES, {"stain": 0.25})
    assert [f["class"] for f in found] == ["stain"]
    assert found[0]["box"] == [0.25, 0.25, 0.5, 0.5]
