"""Confidence intervals of the headline figures: a bootstrap over items.

Photos of one item are not independent (one bag, one light, one set of cues), so the unit of
resampling is the item: each resample draws the evaluated items with replacement, and every
figure is recomputed with each photo (and defect-map cell) weighted by how often its item was
drawn. Every figure is then a weighted statistic over arrays computed once, so a thousand
resamples of a few thousand items take seconds.

`headline_intervals` gives, per headline key of `training.evaluate.HEADLINE`, the percentile
interval at the asked level (95% for a model card). A figure without a single error (a share or
an AUC of exactly 1, or a share of 0) is the one case the percentile bootstrap gets wrong: no
resample can draw an error that was never seen, so it reports the point as certain. There the
interval is the exact (Clopper-Pearson) one for no failure in as many independent trials as
items were evaluated, items rather than photos because the photos of one item are correlated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from serving.condition import median_grade
from serving.evidence import item_scores
from serving.probabilities import ordinal_probabilities, sigmoid, softmax
from serving.tasks import CLASSIFICATION_TASKS, DEFECTS, EVIDENCE, ORDINAL_TASK
from training.data import PhotoDataset
from training.metrics import item_grade_logits_table
from training.predict import MASK_TARGET

Statistic = Callable[[np.ndarray], np.ndarray]  # item weights (R, I) -> figure per resample (R,)


class WeightedAUC:
    """ROC-AUC of fixed scores and labels under many weightings of the samples, ties counted
    half (the rank-sum AUC of `training.evaluate.roc_auc` when every weight is 1)."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray) -> None:
        levels, self.group = np.unique(np.asarray(scores, np.float64), return_inverse=True)
        self.groups = len(levels)
        self.positive = np.asarray(labels).astype(bool)

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        out = np.empty(len(weights))
        for r, w in enumerate(weights):
            pos = np.bincount(self.group, w * self.positive, self.groups)
            neg = np.bincount(self.group, w * ~self.positive, self.groups)
            below = np.cumsum(neg) - neg
            total = pos.sum() * neg.sum()
            out[r] = (pos * (below + 0.5 * neg)).sum() / total if total > 0 else np.nan
        return out


def _ratio(hits: np.ndarray, counts: np.ndarray, item: np.ndarray, items: int) -> Statistic:
    """A share over photos (or items): per resample, weighted hits over weighted counts."""
    per_item_hits = np.bincount(item, hits, items)
    per_item_counts = np.bincount(item, counts, items)

    def statistic(weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ per_item_hits) / (weights @ per_item_counts)

    return statistic


def _auc(scores: np.ndarray, labels: np.ndarray, item: np.ndarray) -> Statistic:
    """AUC over samples weighted by their item's weight, one resample at a time (a (resamples,
    samples) matrix of 200,000 defect-map cells would take 1.6 GB)."""
    auc = WeightedAUC(scores, labels)
    return lambda weights: np.concatenate([auc(row[item][None]) for row in weights])


def headline_statistics(
    predictions: dict[str, np.ndarray],
    dataset: PhotoDataset,
    temperatures: dict[str, float],
    max_pixels: int = 200_000,
) -> tuple[dict[str, Statistic], int]:
    """Each headline figure as a function of item weights, and the number of items."""
    t = dataset.targets
    item_ids = dataset.frame["item_id"].astype(str).to_numpy()
    codes, uniques = pd.factorize(item_ids)
    items = len(uniques)
    stats: dict[str, Statistic] = {}
    for task in CLASSIFICATION_TASKS:
        known = t.classes[task] >= 0
        predicted = softmax(predictions[task], temperatures.get(task, 1.0)).argmax(1)
        hits = (predicted == t.classes[task]) & known
        stats[task] = _ratio(hits.astype(float), known.astype(float), codes, items)

    logits, grades = item_grade_logits_table(predictions, dataset)
    grade_of_item = pd.Series(t.condition).groupby(codes, sort=False).max()  # the table's item order
    graded_codes = grade_of_item.index[grade_of_item.to_numpy() >= 0].to_numpy()
    predicted_grade = median_grade(ordinal_probabilities(logits, temperatures.get(ORDINAL_TASK, 1.0)))
    ones = np.ones(len(grades))
    stats["condition"] = _ratio((predicted_grade == grades).astype(float), ones, graded_codes, items)
    stats["condition_within_one"] = _ratio(
        (np.abs(predicted_grade - grades) <= 1).astype(float), ones, graded_codes, items
    )

    evidence = sigmoid(predictions[EVIDENCE] / temperatures.get(EVIDENCE, 1.0))
    known = t.evidence >= 0
    stats[EVIDENCE] = _auc(evidence[known], t.evidence[known], codes[known])

    scores = item_scores(item_ids, evidence)
    labels = {str(i): int(label) for i, label in zip(item_ids, t.item_label, strict=True)}
    labelled = [i for i in scores if labels[i] >= 0]
    stats["item_auc"] = _auc(
        np.array([scores[i] for i in labelled]),
        np.array([labels[i] for i in labelled]),
        pd.Index(uniques).get_indexer(labelled),
    )

    known_masks = t.mask_known
    if known_masks.any():
        targets = predictions[MASK_TARGET][known_masks] > 0.5
        probs = predictions[DEFECTS][known_masks].astype(np.float32)
        cells = int(np.prod(probs.shape[2:]))
        photo_item = np.repeat(codes[known_masks], cells)
        rng = np.random.default_rng(0)
        per_class = []
        for c in range(probs.shape[1]):
            p, y = probs[:, c].ravel(), targets[:, c].ravel()
            pick = rng.choice(len(p), max_pixels, replace=False) if len(p) > max_pixels else slice(None)
            if y[pick].any() and not y[pick].all():
                per_class.append(_auc(p[pick], y[pick], photo_item[pick]))

        def defects(weights: np.ndarray) -> np.ndarray:
            return np.nanmean(np.stack([stat(weights) for stat in per_class]), axis=0)

        stats["defects_auroc"] = defects
    return stats, items


def item_weights(items: int, resamples: int, seed: int, draw: int | None = None) -> np.ndarray:
    """(resamples, items) counts: how often each item is drawn when `draw` items (default: as
    many as there are) are drawn with replacement."""
    rng = np.random.default_rng(seed)
    draw = items if draw is None else draw
    draws = [np.bincount(rng.integers(0, items, draw), minlength=items) for _ in range(resamples)]
    return np.stack(draws).astype(np.float64)


def headline_intervals(
    predictions: dict[str, np.ndarray],
    dataset: PhotoDataset,
    temperatures: dict[str, float],
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval over items of each headline figure."""
    stats, items = headline_statistics(predictions, dataset, temperatures)
    weights = item_weights(items, resamples, seed)
    return {key: percentile_interval(statistic(weights), level, items) for key, statistic in stats.items()}


def percentile_interval(values: np.ndarray, level: float, items: int) -> tuple[float, float]:
    """The central `level` interval of bootstrap values, or, when every resample gave the same
    perfect (or null) figure, the exact interval for no error in `items` independent trials."""
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = float(np.percentile(values, tail * 100)), float(np.percentile(values, 100 - tail * 100))
    if low == high and low in (0.0, 1.0) and items > 0:
        bound = float(tail ** (1 / items))  # Clopper-Pearson with no failure: P(all n right) = tail
        return (bound, 1.0) if low == 1.0 else (0.0, 1.0 - bound)
    return low, high
