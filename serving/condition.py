"""From photo grade logits to an item's condition grade: the one aggregation every part uses.

A condition grade belongs to the item. Each photo contributes the ordinal (CORAL) logits of
what it shows (defects, fading); the item's logits are their mean over the item's photos,
whatever their views, and its grade probabilities follow with the head's temperature.
Training's condition loss (in torch), evaluation, calibration and the API all aggregate this way,
and all report the median grade (`median_grade`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from serving.probabilities import ordinal_probabilities


def median_grade(probabilities: np.ndarray) -> np.ndarray:
    """The grade to report from (..., K) grade probabilities: their median, the first grade whose
    cumulative probability reaches 0.5 (CORAL's own decision: every threshold whose
    P(grade > k) is at least 0.5 is passed). The most probable grade is the wrong summary of an
    ordinal distribution: a spread one piles up on the extremes A and D."""
    return (np.cumsum(probabilities, axis=-1) < 0.5).sum(axis=-1)


def item_grade_logits(photo_logits: np.ndarray) -> np.ndarray:
    """(photos, K-1) ordinal logits of one item -> (K-1,) item logits."""
    return np.asarray(photo_logits, np.float64).mean(axis=0)


def item_grade_probabilities(photo_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(photos, K-1) ordinal logits of one item -> (K,) grade probabilities."""
    return ordinal_probabilities(item_grade_logits(photo_logits)[None], temperature)[0]


def item_grades(
    item_ids: Iterable[str], photo_logits: np.ndarray, temperature: float = 1.0
) -> dict[str, np.ndarray]:
    """Group photos by item and aggregate each: {item_id: (K,) grade probabilities}."""
    grouped: dict[str, list[np.ndarray]] = {}
    for item_id, logits in zip(item_ids, photo_logits, strict=True):
        grouped.setdefault(str(item_id), []).append(logits)
    return {item: item_grade_probabilities(np.stack(rows), temperature) for item, rows in grouped.items()}
