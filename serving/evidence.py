"""From photo evidence to an item score: the one aggregation every part uses.

A reviewer scores each photo with P(this photo shows a counterfeit cue). An item is
counterfeit when any of its photos shows a cue, so the item score is a noisy-OR of its
photos' calibrated evidence: 1 - prod(1 - p_i). Evaluation, policy fitting, the API and
batch re-scoring all call `item_counterfeit_probability`; training's multiple-instance
loss uses the same formula (in torch) for items whose per-photo cues are unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

EPSILON = 1e-6


def item_counterfeit_probability(photo_evidence: Sequence[float] | np.ndarray) -> float:
    """Noisy-OR of per-photo evidence probabilities; an item with no photos scores 0."""
    p = np.clip(np.asarray(photo_evidence, dtype=np.float64), 0.0, 1.0 - EPSILON)
    if p.size == 0:
        return 0.0
    return float(1.0 - np.exp(np.sum(np.log1p(-p))))


def item_scores(item_ids: Iterable[str], photo_evidence: Iterable[float]) -> dict[str, float]:
    """Group photo scores by item and aggregate each item: {item_id: P(counterfeit)}."""
    grouped: dict[str, list[float]] = {}
    for item_id, score in zip(item_ids, photo_evidence, strict=True):
        grouped.setdefault(str(item_id), []).append(float(score))
    return {item: item_counterfeit_probability(scores) for item, scores in grouped.items()}


def item_labels(item_ids: Iterable[str], authenticity: Iterable[str]) -> Mapping[str, int]:
    """{item_id: 1 if counterfeit else 0} from per-photo rows of a manifest."""
    return {str(i): int(a == "counterfeit") for i, a in zip(item_ids, authenticity, strict=True)}
