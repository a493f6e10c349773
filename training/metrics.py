"""Metrics on collected predictions (numpy in, floats out): shared by validation and `evaluate`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from serving.condition import item_grade_logits
from serving.tasks import ORDINAL_TASK

if TYPE_CHECKING:
    from training.data import PhotoDataset


def accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    known = target >= 0
    return float((predicted[known] == target[known]).mean()) if known.any() else float("nan")


def macro_f1(predicted: np.ndarray, target: np.ndarray, classes: int) -> float:
    known = target >= 0
    if not known.any():
        return float("nan")
    p, t = predicted[known], target[known]
    scores = []
    for c in range(classes):
        tp = np.sum((p == c) & (t == c))
        fp = np.sum((p == c) & (t != c))
        fn = np.sum((p != c) & (t == c))
        if tp + fp + fn == 0:
            continue  # class absent from both: not counted
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def best_threshold_accuracy(probability: np.ndarray, label: np.ndarray) -> float:
    """The accuracy of the best single threshold on these scores: what a fitted threshold
    could reach, independent of where calibration put 0.5 (learning curves)."""
    if not len(probability):
        return float("nan")
    order = np.argsort(-probability, kind="stable")
    positive = label[order].astype(bool)
    # flagging the k highest scores as positive, k = 0..n: true positives plus true negatives
    correct = (
        np.concatenate([[0], np.cumsum(positive)])
        + (~positive).sum()
        - np.concatenate([[0], np.cumsum(~positive)])
    )
    distinct = np.concatenate([[True], probability[order][1:] != probability[order][:-1], [True]])
    return float(correct[distinct].max() / len(probability))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the bin-weighted gap between confidence and accuracy, equal-width bins."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            ece += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(ece)


def binary_ece(probability: np.ndarray, label: np.ndarray, bins: int = 15) -> float:
    """ECE of a binary probability, as the confidence of the predicted class."""
    predicted = probability >= 0.5
    confidence = np.where(predicted, probability, 1 - probability)
    return expected_calibration_error(confidence, (predicted == label.astype(bool)).astype(float), bins)


def item_frame(scores: dict[str, float], item_ids: np.ndarray, item_labels: np.ndarray) -> pd.DataFrame:
    """Item scores (from `serving.evidence.item_scores`) lined up with item labels, unlabelled
    items dropped: columns item_id, label (1 = counterfeit), p_counterfeit, in the order of `scores`."""
    labels: dict[str, int] = {}
    for item, label in zip(item_ids, item_labels, strict=True):
        labels.setdefault(str(item), int(label))
    known = [i for i in scores if labels[i] >= 0]
    return pd.DataFrame(
        {
            "item_id": known,
            "label": np.array([labels[i] for i in known], int),
            "p_counterfeit": np.array([scores[i] for i in known], float),
        }
    )


def labelled_items(
    scores: dict[str, float], item_ids: np.ndarray, item_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(P(counterfeit), label) arrays of the labelled items; see `item_frame`."""
    frame = item_frame(scores, item_ids, item_labels)
    return frame["p_counterfeit"].to_numpy(float), frame["label"].to_numpy(int)


def photo_presence(probabilities: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D, h, w) mask probabilities and target masks -> (N, D): each map's strongest cell (how
    surely the photo shows the class) and whether its target mask has any pixel of it."""
    n, d = probabilities.shape[:2]
    return probabilities.reshape(n, d, -1).max(2), np.asarray(targets.reshape(n, d, -1).any(2))


def item_grade_logits_table(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset
) -> tuple[np.ndarray, np.ndarray]:
    """Each item with a known grade: its grade logits (serving's aggregation of all its photos)
    and its grade. Returns ((items, K-1) logits, (items,) grade indices)."""
    items = dataset.frame["item_id"].astype(str).to_numpy()
    grade = dataset.targets.condition
    logits, grades = [], []
    for item in pd.unique(items):
        rows = items == item
        if grade[rows].max() >= 0:
            logits.append(item_grade_logits(predictions[ORDINAL_TASK][rows]))
            grades.append(int(grade[rows].max()))
    width = predictions[ORDINAL_TASK].shape[1]
    return np.asarray(logits, np.float64).reshape(-1, width), np.asarray(grades, np.int64)
