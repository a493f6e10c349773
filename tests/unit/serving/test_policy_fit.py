"""Threshold fitting on constructed scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from serving.policy_fit import auto_decided, fit_thresholds, risk_upper_bound


def test_error_bound_needs_enough_items_to_vouch_for_a_small_error_rate() -> None:
    assert risk_upper_bound(0, 0) == 0.0
    assert risk_upper_bound(0, 100) > 0.02  # no error among 100 items does not prove 0.5%
    assert risk_upper_bound(0, 600) < 0.005
    assert risk_upper_bound(5, 100) > 0.05 > risk_upper_bound(0, 100)


def test_perfect_reviewers_on_many_items_decide_everything() -> None:
    labels = np.array([0, 1] * 1000)
    scores = {"a": np.where(labels == 1, 0.999, 0.001), "b": np.where(labels == 1, 0.99, 0.02)}
    fit = fit_thresholds(scores, labels, 0.005)
    assert fit.coverage == 1.0 and fit.risk == 0.0 and fit.risk_bound <= 0.005
    assert (auto_decided(scores, fit.confidences) == labels).all()


def test_errors_are_kept_under_the_target_by_deciding_less() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 3000)
    confidence = rng.uniform(0.5, 1.0, 3000)
    wrong = rng.random(3000) > confidence  # less confident items are wrong more often
    p = np.where(labels.astype(bool) ^ wrong, confidence, 1 - confidence)
    fit = fit_thresholds({"a": p, "b": p}, labels, 0.1)
    assert 0 < fit.coverage < 1 and fit.risk_bound <= 0.1
    decided = auto_decided({"a": p, "b": p}, fit.confidences)
    covered = decided >= 0
    assert (decided[covered] != labels[covered]).mean() == pytest.approx(fit.risk)


def test_a_small_validation_set_honestly_decides_nothing() -> None:
    labels = np.array([0, 1] * 20)
    scores = {"a": np.where(labels == 1, 0.999, 0.001), "b": np.where(labels == 1, 0.999, 0.001)}
    fit = fit_thresholds(scores, labels, 0.005)
    assert fit.coverage == 0.0 and fit.confidences == {"a": 1.0, "b": 1.0}
    assert list(fit.table["confidence"])[:2] == [0.5, 0.6] and (fit.table["risk"].fillna(0) == 0).all()


def test_disagreeing_reviewers_never_auto_decide() -> None:
    scores = {"a": np.array([0.99, 0.01]), "b": np.array([0.01, 0.99])}
    assert (auto_decided(scores, {"a": 0.9, "b": 0.9}) == -1).all()
