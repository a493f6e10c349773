"""A branch per view: each photo is read by its own view's copy of the trainable levels, the
exported (mixed) path gives the same numbers as routing, and nothing else is duplicated."""

from __future__ import annotations

import pytest
import torch

from secondlook.errors import InputError
from training.config import load_config
from training.losses import multitask_loss
from training.model import ROUTER, Reviewer
from training.optim import parameter_groups


def _model() -> Reviewer:
    torch.manual_seed(0)
    return Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2, view_branches=True).eval()


def test_each_photo_is_read_by_the_branch_of_its_labelled_view() -> None:
    model = _model()
    images = torch.randn(4, 3, 64, 64)
    views = torch.tensor([0, 1, 2, 3])
    before = model(images, views=views)
    with torch.no_grad():  # change only view 2's branch
        for parameter in model.branches.branches[2].parameters():
            parameter.add_(0.05)
    after = model(images, views=views)
    changed = (after["stamp_type"] - before["stamp_type"]).abs().amax(1) > 1e-6
    assert changed.tolist() == [False, False, True, False]
    # Another route for the same photo: another branch, other features.
    rerouted = model(images, views=torch.tensor([0, 1, 1, 3]))
    assert not torch.allclose(rerouted["stamp_type"][2], after["stamp_type"][2])


def test_unlabelled_photos_go_where_the_router_says_and_the_export_path_agrees() -> None:
    model = _model()
    images = torch.randn(6, 3, 64, 64)
    with torch.no_grad():  # a router that sends every photo to view 1
        model.branches.router.bias.copy_(torch.tensor([0.0, 50.0, 0.0, 0.0]))
    routed = model(images)
    assert torch.allclose(routed[ROUTER].argmax(1), torch.ones(6, dtype=torch.long))
    torch.testing.assert_close(routed["evidence"], model(images, views=torch.full((6,), 1))["evidence"])
    torch.testing.assert_close(routed["evidence"], model(images, views=torch.full((6,), -1))["evidence"])
    exported = model.forward_with_cams(images)  # every branch, one-hot weighted
    assert ROUTER not in exported
    for key in ("view", "stamp_type", "evidence", "cues", "defects", "condition_grade"):
        torch.testing.assert_close(exported[key], routed[key], msg=key)


def test_the_trainable_levels_live_only_in_the_branches() -> None:
    model = _model()
    plain = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2)
    trainable_backbone = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert trainable_backbone == []  # the backbone keeps its frozen levels only
    per_branch = sum(p.numel() for p in model.branches.branches[0].parameters())
    plain_trainable = sum(p.numel() for p in plain.backbone.parameters() if p.requires_grad)
    assert per_branch == plain_trainable
    groups = parameter_groups(model, weight_decay=0.05, lr=1.0, head_lr_scale=5.0)
    lr_of = {id(p): group["lr"] for group in groups for p in group["params"]}
    assert {lr_of[id(p)] for p in model.branches.branches.parameters()} == {1.0}
    assert {lr_of[id(p)] for p in model.branches.router.parameters()} == {5.0}


def test_the_router_learns_the_view_labels() -> None:
    model = _model().train()
    images = torch.randn(4, 3, 64, 64)
    batch = {
        "mask": torch.zeros(4, 5, 16, 16),
        "mask_known": torch.zeros(4, dtype=torch.bool),
        "condition_grade": torch.full((4,), -1),
        "evidence": torch.full((4,), -1),
        "cues": torch.full((4, 11), -1),
        "item_label": torch.full((4,), -1),
        "item_index": torch.arange(4),
        **{
            task: torch.full((4,), -1)
            for task in ("category", "hardware_type", "hardware_finish", "stamp_type")
        },
        "view": torch.tensor([0, 1, 2, 3]),
    }
    _, parts = multitask_loss(model(images, views=batch["view"]), batch, load_config(None).loss_weights)
    assert ROUTER in parts and parts[ROUTER] > 0


def test_branches_need_a_shared_frozen_trunk() -> None:
    with pytest.raises(InputError, match="frozen_levels"):
        Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=0, view_branches=True)
