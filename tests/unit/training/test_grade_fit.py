"""The condition head fitted to convergence after training (`training.grade_fit`)."""

from __future__ import annotations

import torch

from data.taxonomy import load_taxonomy
from training.grade_fit import exact, fit_ordinal_head, graded_items, refit_grade_head
from training.model import OrdinalHead, Reviewer, grade_input_size, weigh_by_view


def _graded_items(n: int, features: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features on raw, uneven scales whose grade is the quartile of a hidden linear score."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator) * torch.linspace(0.1, 30, features) + 7
    score = x @ torch.randn(features, generator=generator)
    grade = torch.bucketize(score, score.quantile(torch.tensor([0.25, 0.5, 0.75])))
    return x, grade


def test_the_fit_recovers_grades_a_linear_score_orders_from_raw_inputs_in_the_last_columns() -> None:
    torch.manual_seed(0)
    x, grade = _graded_items(400, 12)
    head = OrdinalHead(20, 4)  # 8 leading columns (the pooled features) then the 12 fitted
    with torch.no_grad():
        assert exact(head(torch.cat([torch.randn(400, 8), x], 1)), grade) < 0.5
    fitted = fit_ordinal_head(head, x, grade, l2=1e-6)
    assert exact(fitted, grade) >= 0.95
    # The head runs on raw inputs (standardisation folded into it) and ignores the leading columns.
    with torch.no_grad():
        torch.testing.assert_close(head(torch.cat([torch.randn(400, 8) * 50, x], 1)), fitted)
    assert bool((head.score.weight[0, :8] == 0).all())
    # Ordered thresholds: P(grade > k) falls with k for every item.
    assert bool((head.thresholds[:-1] > head.thresholds[1:]).all())


def _photos(grades: list[int], model: Reviewer) -> tuple[torch.Tensor, ...]:
    """Two photos per item; the grade is on one photo of an item only (as overall and detail
    carry it in the benchmark)."""
    torch.manual_seed(1)
    photos = 2 * len(grades)
    pooled = torch.randn(photos, model.heads["view"].in_features)
    summary = -torch.rand(photos, 2 * len(load_taxonomy().classes("defects"))) * 5
    grade = torch.tensor([g for g in grades for g in (g, -1)])
    return pooled, summary, torch.arange(photos) // 2, grade


def test_items_are_the_mean_of_their_photos_with_the_grade_any_photo_carries() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16).eval()
    pooled, summary, item_index, grade = _photos([0, 3, 1, -1], model)
    items = graded_items(model, pooled, summary, item_index, grade)
    # The item without a grade is left out.
    assert items.features.shape == (3, grade_input_size(load_taxonomy()))
    assert items.grade.tolist() == [0, 3, 1]
    # The head's own item logits, as trained: the mean of what it gives each photo.
    with torch.no_grad():
        inputs = weigh_by_view(summary, model.heads["view"](pooled))
        photo_logits = model.ordinal(torch.cat([pooled, inputs], 1))
    torch.testing.assert_close(items.logits, photo_logits.view(4, 2, 3).mean(1)[:3])


def test_refit_changes_only_the_condition_head_and_needs_two_known_grades() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert refit_grade_head(model, graded_items(model, *_photos([2, 2, -1, -1], model))) is None
    fit = refit_grade_head(model, graded_items(model, *_photos([0, 3, 1, 2, 0, 3], model)))
    assert fit is not None and fit.items == 6
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"ordinal.score.weight", "ordinal.thresholds", "ordinal.center"}
