"""The validation figures of one epoch: each head's headline figure and the `score` that picks
the best epoch, plus the learning-curve figures (training.curves)."""

from __future__ import annotations

import math

import numpy as np

from serving.tasks import CUES
from training.data import PhotoDataset
from training.evaluate import compute_metrics, headline


def validation_metrics(predictions: dict[str, np.ndarray], dataset: PhotoDataset) -> dict[str, float]:
    """Every head's headline figure on validation (uncalibrated) and their mean, `score`,
    which picks the best epoch."""
    metrics = compute_metrics(predictions, dataset, temperatures={})
    figures = headline(metrics)
    known = [v for v in figures.values() if not math.isnan(v)]
    figures["score"] = float(np.mean(known)) if known else float("nan")
    # Learning-curve figures (training.curves), not part of the score.
    recalls = [r["item_recall_at_5pct_fpr"] for r in metrics[CUES].values()]
    recalls = [r for r in recalls if not math.isnan(r)]
    figures["item_accuracy"] = metrics["authenticity_item"]["best_threshold_accuracy"]
    figures["cue_recall"] = float(np.mean(recalls)) if recalls else float("nan")
    figures["coverage_at_1pct"] = metrics["risk_coverage"]["coverage_at_risk_0.01"]
    return {k: round(float(v), 6) for k, v in figures.items()}
