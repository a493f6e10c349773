"""The condition head fitted to convergence after training (`training.grade_fit`)."""

from __future__ import annotations

import torch

from data.taxonomy import load_taxonomy
from training.grade_fit import collect_graded_items, exact, fit_ordinal_head, refit_grade_head
from training.model import OrdinalHead, Reviewer, grade_input_size


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


def _batches(items: int, grades: list[int]) -> list[dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    batches = []
    for start in range(0, items, 2):  # two items of two photos per batch
        index = torch.tensor([start, start, start + 1, start + 1])
        batches.append(
            {
                "image": torch.randn(4, 3, 64, 64),
                "mask": torch.zeros(4, 5, 16, 16, dtype=torch.uint8),
                "item_index": index,
                # The grade is on some photos of an item only (overall and detail in the benchmark).
                "condition_grade": torch.tensor([grades[start], -1, -1, grades[start + 1]]),
            }
        )
    return batches


def test_items_are_the_mean_of_their_photos_with_the_grade_any_photo_carries() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    items = collect_graded_items(model, _batches(4, [0, 3, 1, -1]), torch.device("cpu"), False)
    # The item without a grade is left out.
    assert items.features.shape == (3, grade_input_size(load_taxonomy()))
    assert items.logits.shape == (3, 3)  # the head's own item logits, as trained
    assert items.grade.tolist() == [0, 3, 1]


def test_refit_changes_only_the_condition_head_and_needs_two_known_grades() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert refit_grade_head(model, _batches(4, [2, 2, -1, -1]), torch.device("cpu"), False) is None
    fit = refit_grade_head(model, _batches(6, [0, 3, 1, 2, 0, 3]), torch.device("cpu"), False)
    assert fit is not None and fit.items == 6
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"ordinal.score.weight", "ordinal.thresholds", "ordinal.center"}
