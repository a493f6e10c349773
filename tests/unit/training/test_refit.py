"""One pass over the training photos serves both refits (`training.refit`)."""

from __future__ import annotations

import torch

from serving.tasks import CLASSIFICATION_TASKS, DEFECTS, ORDINAL_TASK, VIEW
from training.grade_fit import exact, graded_items
from training.losses import item_mean
from training.model import Reviewer, defect_summary
from training.refit import collect_training_photos, refit_heads


def _batches(n: int) -> list[dict[str, torch.Tensor]]:
    """Two photos per item, views 0-3, a grade on each item's first photo."""
    torch.manual_seed(1)
    batches = []
    for start in range(0, n, 4):
        batch: dict[str, torch.Tensor] = {
            "image": torch.randn(4, 3, 64, 64),
            "mask": torch.zeros(4, 5, 16, 16, dtype=torch.uint8),
            "item_index": torch.arange(start, start + 4) // 2,
            ORDINAL_TASK: torch.tensor([(start // 2) % 4, -1, (start // 2 + 1) % 4, -1]),
        }
        for task in CLASSIFICATION_TASKS:
            batch[task] = torch.full((4,), -1)
        batch[VIEW] = torch.tensor([0, 1, 2, 3])
        batches.append(batch)
    return batches


def test_the_pass_collects_what_the_heads_read_and_every_label() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    batches = _batches(8)
    photos = collect_training_photos(model, batches, torch.device("cpu"), False)
    with torch.no_grad():
        out = model(torch.cat([b["image"] for b in batches]))
    # The pooled features are the view head's input: applied to them it gives the model's output.
    torch.testing.assert_close(model.heads[VIEW](photos.pooled), out[VIEW])
    torch.testing.assert_close(photos.summary, defect_summary(out[DEFECTS]))
    assert photos.labels[VIEW].tolist() == [0, 1, 2, 3] * 2
    assert photos.labels[ORDINAL_TASK].tolist() == [0, -1, 1, -1, 2, -1, 3, -1]
    assert photos.item_index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_the_grade_is_refitted_on_the_inputs_the_refitted_view_head_gives() -> None:
    """After both refits, the model's own item grade logits are the ones the grade fit saw:
    the view head changed first, and the grade inputs were rebuilt with it."""
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    batches = _batches(16)
    view_before = model.heads[VIEW].weight.clone()
    refits = refit_heads(model, batches, torch.device("cpu"), False, min_photos=16)
    assert [fit.task for fit in refits.heads] == [VIEW] and refits.grade is not None
    assert refits.grade.items == 8 and not torch.equal(model.heads[VIEW].weight, view_before)
    model.eval()
    with torch.no_grad():
        out = model(torch.cat([b["image"] for b in batches]))
    _, item_logits = item_mean(out[ORDINAL_TASK], torch.cat([b["item_index"] for b in batches]))
    photos = collect_training_photos(model, batches, torch.device("cpu"), False)
    items = graded_items(model, photos.pooled, photos.summary, photos.item_index, photos.labels[ORDINAL_TASK])
    torch.testing.assert_close(items.logits, item_logits)
    assert exact(item_logits, items.grade) == refits.grade.exact_after
