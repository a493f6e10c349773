"""The classification heads fitted to convergence after training (`training.head_fit`)."""

from __future__ import annotations

import torch
from torch import nn

from serving.tasks import CLASSIFICATION_TASKS, VIEW
from training.head_fit import fit_linear_head, refit_classification_heads
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


def test_refit_changes_only_heads_with_enough_photos_of_two_known_classes() -> None:
    torch.manual_seed(1)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16)
    features = torch.randn(16, model.heads[VIEW].in_features)
    labels = {task: torch.full((16,), -1) for task in CLASSIFICATION_TASKS}
    labels[VIEW] = torch.tensor([0, 1, 2, 3] * 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # Too few photos: nothing is refitted.
    assert refit_classification_heads(model, features, labels, min_photos=17) == []
    assert {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])} == set()
    fits = refit_classification_heads(model, features, labels, min_photos=16)
    # Only the view is labelled: the other heads stay as trained.
    assert [fit.task for fit in fits] == [VIEW]
    assert fits[0].photos == 16 and fits[0].accuracy_after == 1.0
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"heads.{VIEW}.weight", f"heads.{VIEW}.bias"}
