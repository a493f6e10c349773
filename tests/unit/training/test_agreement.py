"""Reviewer error correlation on constructed item tables with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from training.agreement import read_items, reviewer_agreement

LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


def _table(scores: list[float], labels: list[int] = LABELS) -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": [f"i{k}" for k in range(len(scores))], "label": labels, "p_counterfeit": scores}
    )


def test_identical_reviewers_have_perfectly_correlated_errors() -> None:
    scores = [0.9, 0.8, 0.2, 0.1, 0.1, 0.3, 0.7, 0.2]  # wrong on i2, i3, i6
    stats = reviewer_agreement(_table(scores), _table(scores))
    assert stats["items"] == 8
    assert stats["error_a"] == stats["error_b"] == pytest.approx(3 / 8)
    assert stats["both_wrong"] == pytest.approx(3 / 8)
    assert stats["both_wrong_if_independent"] == pytest.approx(9 / 64)
    assert stats["error_correlation"] == pytest.approx(1.0)
    assert stats["agreement"] == 1.0
    assert stats["accuracy_where_agreeing"] == pytest.approx(5 / 8)


def test_reviewers_wrong_on_different_items_are_anticorrelated_and_never_both_wrong() -> None:
    a = [0.1, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1]  # wrong on i0 only
    b = [0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1]  # wrong on i1 only
    stats = reviewer_agreement(_table(a), _table(b))
    assert stats["both_wrong"] == 0.0
    assert stats["error_correlation"] < 0
    assert stats["agreement"] == pytest.approx(6 / 8)
    assert stats["accuracy_where_agreeing"] == 1.0


def test_a_perfect_reviewer_leaves_the_correlation_undefined() -> None:
    perfect = [0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1]
    stats = reviewer_agreement(_table(perfect), _table(perfect))
    assert stats["error_a"] == 0.0 and math.isnan(stats["error_correlation"])


def test_tables_from_different_data_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="no item in common"):
        reviewer_agreement(_table([0.5] * 8), _table([0.5] * 8).assign(item_id=list("abcdefgh")))
    with pytest.raises(ValueError, match="disagree on item labels"):
        reviewer_agreement(_table([0.5] * 8), _table([0.5] * 8, labels=[0] * 8))
    with pytest.raises(FileNotFoundError, match="secondlook evaluate"):
        read_items(tmp_path)
    (tmp_path / "items.csv").write_text("item_id,score\nx,1\n")
    with pytest.raises(ValueError, match="label, p_counterfeit"):
        read_items(tmp_path)
