"""Temperature scaling per head, fitted on validation logits (Guo et al., 2017), and the
threshold per defect class from which a photo is said to show it.

One scalar T per classification head divides its logits; it changes confidence, never
the predicted class. Fitted by minimising the head's own negative log-likelihood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from serving.bundle import DEFECT_THRESHOLD
from serving.probabilities import ordinal_probabilities, sigmoid, softmax
from serving.tasks import CLASSIFICATION_TASKS, DEFECTS, EVIDENCE, ORDINAL_TASK
from training.convex_fit import minimise
from training.metrics import binary_ece, expected_calibration_error, item_grade_logits_table, photo_presence
from training.predict import MASK_TARGET

if TYPE_CHECKING:
    from training.data import PhotoDataset

T_MIN, T_MAX = 0.05, 20.0


def _fit(nll, steps: int = 200) -> float:
    log_t = torch.zeros((), requires_grad=True)
    minimise([log_t], lambda: nll(log_t.exp().clamp(T_MIN, T_MAX)), steps, lr=0.1)
    return float(log_t.detach().exp().clamp(T_MIN, T_MAX))


def fit_presence_threshold(scores: np.ndarray, present: np.ndarray) -> float:
    """The probability from which a photo is said to show a defect class: the threshold on its
    map's strongest cell that maximises F1 of "shows it" on validation photos (serving's default
    when the class never appears). Dice-trained maps rarely reach 0.5 on faint defects."""
    if not present.any():
        return DEFECT_THRESHOLD
    best, best_f1 = DEFECT_THRESHOLD, -1.0
    for threshold in np.unique(np.clip(scores, 0.02, 0.98)):
        said = scores >= threshold
        tp = float((said & present).sum())
        f1 = 2 * tp / (said.sum() + present.sum())
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def fit_multiclass(logits: np.ndarray, target: np.ndarray) -> float:
    known = target >= 0
    if known.sum() < 2:
        return 1.0
    z, y = torch.as_tensor(logits[known], dtype=torch.float64), torch.as_tensor(target[known])
    return _fit(lambda t: F.cross_entropy(z / t, y))


def fit_binary(logits: np.ndarray, target: np.ndarray) -> float:
    known = target >= 0
    if known.sum() < 2:
        return 1.0
    z, y = (
        torch.as_tensor(logits[known], dtype=torch.float64),
        torch.as_tensor(target[known], dtype=torch.float64),
    )
    return _fit(lambda t: F.binary_cross_entropy_with_logits(z / t, y))


def fit_ordinal(logits: np.ndarray, target: np.ndarray) -> float:
    known = target >= 0
    if known.sum() < 2:
        return 1.0
    z = torch.as_tensor(logits[known], dtype=torch.float64)
    steps = torch.arange(z.shape[1])
    y = (torch.as_tensor(target[known])[:, None] > steps[None, :]).double()
    return _fit(lambda t: F.binary_cross_entropy_with_logits(z / t, y))


def multiclass_ece(logits: np.ndarray, target: np.ndarray, temperature: float = 1.0) -> float:
    known = target >= 0
    probs = softmax(logits[known], temperature)
    return expected_calibration_error(
        probs.max(axis=1), (probs.argmax(axis=1) == target[known]).astype(float)
    )


def evidence_ece(logits: np.ndarray, target: np.ndarray, temperature: float = 1.0) -> float:
    known = target >= 0
    return binary_ece(sigmoid(logits[known] / temperature), target[known])


def ordinal_ece(logits: np.ndarray, target: np.ndarray, temperature: float = 1.0) -> float:
    known = target >= 0
    probs = ordinal_probabilities(logits[known], temperature)
    return expected_calibration_error(
        probs.max(axis=1), (probs.argmax(axis=1) == target[known]).astype(float)
    )


def fit_temperatures(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset
) -> tuple[dict[str, float], dict]:
    """Temperature per head on validation, with ECE before and after. The condition grade is
    calibrated on items (serving's aggregation of their photos), where it is read."""
    t = dataset.targets
    temperatures: dict[str, float] = {}
    report: dict[str, dict[str, float]] = {}
    for task in CLASSIFICATION_TASKS:
        temperatures[task] = fit_multiclass(predictions[task], t.classes[task])
        before = multiclass_ece(predictions[task], t.classes[task])
        after = multiclass_ece(predictions[task], t.classes[task], temperatures[task])
        report[task] = {"ece_before": before, "ece_after": after, "temperature": temperatures[task]}
    logits, grades = item_grade_logits_table(predictions, dataset)
    temperatures[ORDINAL_TASK] = fit_ordinal(logits, grades)
    report[ORDINAL_TASK] = {
        "ece_before": ordinal_ece(logits, grades),
        "ece_after": ordinal_ece(logits, grades, temperatures[ORDINAL_TASK]),
        "temperature": temperatures[ORDINAL_TASK],
    }
    temperatures[EVIDENCE] = fit_binary(predictions[EVIDENCE], t.evidence)
    report[EVIDENCE] = {
        "ece_before": evidence_ece(predictions[EVIDENCE], t.evidence),
        "ece_after": evidence_ece(predictions[EVIDENCE], t.evidence, temperatures[EVIDENCE]),
        "temperature": temperatures[EVIDENCE],
    }
    return temperatures, report


def fit_defect_thresholds(predictions: dict[str, np.ndarray], dataset: PhotoDataset) -> dict[str, float]:
    """Per defect class, the probability from which a photo shows it (`calibrate`), fitted on
    the validation photos whose masks are known."""
    known = dataset.targets.mask_known
    if not known.any():
        return {}  # no photo with a known mask: serving keeps its default threshold
    strongest, present = photo_presence(
        predictions[DEFECTS][known].astype(np.float32), predictions[MASK_TARGET][known]
    )
    classes = dataset.taxonomy.classes(DEFECTS)
    return {name: fit_presence_threshold(strongest[:, c], present[:, c]) for c, name in enumerate(classes)}
