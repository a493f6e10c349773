"""Bootstrap intervals over items: the weighted statistics equal the plain ones at unit weights,
and resampling the items of a real evaluation brackets its figures."""

from __future__ import annotations

import numpy as np

from training.evaluate import roc_auc
from training.intervals import WeightedAUC, _ratio, item_weights, percentile_interval


def test_weighted_auc_at_unit_weights_is_the_rank_sum_auc_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, 500) / 20  # many ties
    labels = rng.random(500) < 0.4
    assert np.isclose(WeightedAUC(scores, labels)(np.ones((1, 500)))[0], roc_auc(scores, labels))


def test_weighting_a_sample_twice_is_duplicating_it() -> None:
    rng = np.random.default_rng(1)
    scores, labels = rng.random(60), rng.random(60) < 0.5
    weights = rng.integers(0, 3, 60).astype(float)
    duplicated = np.repeat(np.arange(60), weights.astype(int))
    expected = roc_auc(scores[duplicated], labels[duplicated])
    assert np.isclose(WeightedAUC(scores, labels)(weights[None])[0], expected)


def test_a_share_is_weighted_by_item_not_by_photo() -> None:
    item = np.array([0, 0, 0, 1])  # item 0 has three photos, all right; item 1 one, wrong
    share = _ratio(np.array([1.0, 1, 1, 0]), np.ones(4), item, 2)
    assert np.allclose(share(np.array([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])), [0.75, 0.0, 1.0])


def test_item_weights_draw_as_many_items_as_asked() -> None:
    weights = item_weights(50, 7, seed=3)
    assert weights.shape == (7, 50) and (weights.sum(1) == 50).all()
    assert (item_weights(50, 4, seed=3, draw=300).sum(1) == 300).all()


def test_a_spread_of_resamples_gives_its_central_percentiles() -> None:
    values = np.linspace(0.0, 1.0, 1001)
    low, high = percentile_interval(values, 0.9, items=300)
    assert np.isclose(low, 0.05) and np.isclose(high, 0.95)


def test_a_perfect_figure_gets_the_exact_interval_for_no_error_not_a_point() -> None:
    # 300 items all right: the bootstrap can only redraw them, so every resample is 1.0
    low, high = percentile_interval(np.ones(500), 0.998, items=300)
    assert high == 1.0 and np.isclose(low**300, 0.001)  # P(300 right | share low) is the tail
    assert 0.97 < low < 0.98  # wide enough to reach a card of 0.987-0.995 measured on 2,000 items
    # the same on 2,000 items at 95% is tight, and a share of 0 mirrors it
    assert np.isclose(percentile_interval(np.ones(10), 0.95, items=2000)[0], 0.025 ** (1 / 2000))
    assert percentile_interval(np.zeros(10), 0.95, items=2000) == (0.0, 1 - 0.025 ** (1 / 2000))


def test_a_constant_figure_that_is_not_perfect_stays_a_point() -> None:
    assert percentile_interval(np.full(20, 0.5), 0.95, items=10) == (0.5, 0.5)
    assert np.isnan(percentile_interval(np.array([np.nan, np.nan]), 0.95, items=10)).all()
