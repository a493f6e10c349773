"""The reviewer cut between feature levels: frozen levels are a pure, cacheable function of the
photo, and training changes only what follows them."""

from __future__ import annotations

import pytest
import torch

from training.config import load_config
from training.losses import multitask_loss
from training.model import Reviewer


def _batch(n: int) -> dict[str, torch.Tensor]:
    batch = {
        "mask": torch.zeros(n, 5, 16, 16),
        "mask_known": torch.ones(n, dtype=torch.bool),
        "condition_grade": torch.full((n,), 2),
        "evidence": torch.zeros(n, dtype=torch.long),
        "item_label": torch.zeros(n, dtype=torch.long),
        "item_index": torch.arange(n) // 2,
    }
    batch["mask"][:, 1, 4:8, 4:8] = 1
    for task in ("view", "category", "hardware_type", "hardware_finish", "stamp_type"):
        batch[task] = torch.ones(n, dtype=torch.long)
    return batch


@pytest.mark.parametrize("backbone", ["mobilenetv3_small_050", "resnet10t"])
def test_forward_from_cached_frozen_features_equals_forward_from_photos(backbone: str) -> None:
    torch.manual_seed(0)
    model = Reviewer(backbone, seg_channels=16, frozen_levels=2).eval()
    images = torch.randn(3, 3, 64, 64)
    frozen = model.frozen_features(images)
    assert len(frozen) == len(model.frozen_output_levels) and frozen[-1].shape[-1] == 64 // 4
    direct, cached = model(images), model(frozen=[f.clone() for f in frozen], size=(64, 64))
    assert direct.keys() == cached.keys()
    for key in direct:
        torch.testing.assert_close(cached[key], direct[key], msg=key)
    assert direct["defects"].shape == (3, 5, 16, 16)
    assert direct["condition_grade"].shape == (3, 3) and direct["category"].shape == (3, 6)


def test_training_leaves_the_frozen_levels_and_their_batch_statistics_alone() -> None:
    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2)
    frozen_layers = model._layers[: model._cut]
    before = {k: v.clone() for layer in frozen_layers for k, v in layer.state_dict().items()}
    head_before = model.heads["view"].weight.clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    weights = load_config(None).loss_weights
    model.train()
    for _ in range(3):
        images = torch.randn(4, 3, 64, 64)
        loss, _ = multitask_loss(model(images), _batch(4), weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = {k: v for layer in frozen_layers for k, v in layer.state_dict().items()}
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, msg=key)  # weights and BN running statistics
    assert not torch.equal(model.heads["view"].weight, head_before)
    assert all(not p.requires_grad for layer in frozen_layers for p in layer.parameters())


def test_frozen_levels_must_leave_something_to_train() -> None:
    with pytest.raises(ValueError, match="frozen_levels"):
        Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=5)
