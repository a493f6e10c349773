"""The classification heads fitted to convergence after training (`training.head_fit`)."""

from __future__ import annotations

import torch
from torch import nn

from serving.tasks import CLASSIFICATION_TASKS, VIEW
from training.head_fit import collect_pooled, fit_linear_head, refit_classification_heads
from training.model import Reviewer


def test_the_fit_separates_classes_a_linear_rule_draws_on_raw_uneven_inputs() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 10, generator=generator) * torch.linspace(0.01, 50, 10) + 5
    labels = (x / x.std(0)) @ torch.randn(10, 3, generator=generator)
    y = labels.argmax(1)
    head = nn.Linear(10, 3)
    with torch.no_grad():
        assert float((head(x).argmax(1) == y).float().mean()) < 0.8
    fit_linear_head(head, x, y, c=100.0)
    with torch.no_grad():  # standardisation is folded in: the head runs on the raw features
        assert float((head(x).argmax(1) == y).float().mean()) >= 0.95


def _batches(n: int) -> list[dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    batches = []
    for start in range(0, n, 4):
        batch: dict[str, torch.Tensor] = {
            "image": torch.randn(4, 3, 64, 64),
            "mask": torch.zeros(4, 5, 16, 16, dtype=torch.uint8),
            "item_index": torch.arange(start, start + 4),
        }
        for task in CLASSIFICATION_TASKS:
            batch[task] = torch.full((4,), -1)
        batch[VIEW] = torch.tensor([0, 1, 2, 3])
        batches.append(batch)
    return batches


def test_refit_changes_only_heads_with_two_known_classes() -> None:
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    batches = _batches(16)
    photos = collect_pooled(model, batches, torch.device("cpu"), False)
    assert photos.features.shape == (16, model.heads[VIEW].in_features)
    assert photos.labels[VIEW].tolist() == [0, 1, 2, 3] * 4
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # Too few photos: nothing is refitted.
    assert refit_classification_heads(model, batches, torch.device("cpu"), False, min_photos=17) == []
    assert {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])} == set()
    fits = refit_classification_heads(model, batches, torch.device("cpu"), False, min_photos=16)
    # Only the view is labelled: the other heads stay as trained.
    assert [fit.task for fit in fits] == [VIEW]
    assert fits[0].photos == 16 and fits[0].accuracy_after == 1.0
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"heads.{VIEW}.weight", f"heads.{VIEW}.bias"}
