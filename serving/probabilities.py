"""Logits -> calibrated probabilities (numpy): used by serving, evaluation and training alike."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def ordinal_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """CORAL cumulative logits (N, K-1) -> class probabilities (N, K)."""
    above = sigmoid(logits / temperature)  # P(grade > k)
    above = np.minimum.accumulate(above, axis=1)  # keep the cumulative probabilities ordered
    ones, zeros = np.ones((len(above), 1)), np.zeros((len(above), 1))
    cumulative = np.concatenate([ones, above, zeros], axis=1)
    return np.clip(cumulative[:, :-1] - cumulative[:, 1:], 0.0, 1.0)
