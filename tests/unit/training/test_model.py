"""The reviewer cut between feature levels: frozen levels are a pure, cacheable function of the
photo, and training changes only what follows them."""

from __future__ import annotations

import pytest
import torch

from data.taxonomy import load_taxonomy
from secondlook.errors import InputError
from training.config import load_config
from training.cues import UNSEEN_CUE_LOGIT, CueHead, cue_visibility
from training.losses import multitask_loss
from training.model import Reviewer


def _batch(n: int) -> dict[str, torch.Tensor]:
    batch = {
        "mask": torch.zeros(n, 5, 16, 16),
        "mask_known": torch.ones(n, dtype=torch.bool),
        "condition_grade": torch.full((n,), 2),
        "evidence": torch.zeros(n, dtype=torch.long),
        "cues": torch.zeros(n, 11, dtype=torch.long),
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
    frozen_layers = model.frozen_layers
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


def test_photo_evidence_odds_are_the_sum_of_the_cue_odds() -> None:
    from training.cues import evidence_logit

    logits = torch.tensor([[-2.0, 0.5, -4.0], [-8.0, -8.0, -8.0], [-9.0, -12.0, -11.0]])
    odds = torch.exp(logits).sum(1)
    torch.testing.assert_close(torch.exp(evidence_logit(logits)), odds)
    assert evidence_logit(logits)[0] > logits[0].max()  # several weak cues add up
    # rare cues: the chance of at least one cue, the cues taken as independent
    p = torch.sigmoid(logits[2])
    torch.testing.assert_close(
        torch.sigmoid(evidence_logit(logits))[2], 1 - (1 - p).prod(), rtol=1e-3, atol=0
    )


def test_a_few_strong_cells_carry_a_cue_map_that_a_global_average_would_dilute() -> None:
    from training.cues import CUE_TOP_K, cue_logits

    maps = torch.full((1, 2, 14, 14), -6.0)
    maps[0, 1, 3:5, 9:11] = 6.0  # one wrong letter: 2 x 2 cells of a 14 x 14 map at stride 16
    assert CUE_TOP_K <= 4
    pooled = cue_logits(maps)
    assert pooled[0, 1] > 0 > pooled[0, 0]
    assert maps[0, 1].mean() < 0  # what a global pool would have said


def test_the_evidence_map_flags_the_cell_that_shows_a_cue() -> None:
    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2).eval()
    out = model.forward_with_cams(torch.randn(2, 3, 96, 96))
    assert out["cam_evidence"].shape[:2] == (2, 1) and out["cues"].shape == (2, 11)
    assert "cue_maps" not in out and "cue_maps" not in model(torch.randn(1, 3, 96, 96))
    # the photo's evidence is never below its strongest cue
    assert (out["evidence"] >= out["cues"].max(1).values - 1e-5).all()


def test_cue_labels_know_every_cue_of_a_recorded_photo_and_nothing_of_an_unrecorded_one() -> None:
    import numpy as np

    from training.targets import cue_labels

    names = ("a", "b", "c")
    labels = cue_labels([["b"], [], ["a", "c"]], np.array([1, 0, -1]), names)
    assert labels.tolist() == [[0, 1, 0], [0, 0, 0], [-1, -1, -1]]


def test_the_cue_loss_trains_only_on_photos_whose_cues_are_known() -> None:
    config = load_config(None)
    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2)
    batch = _batch(4)
    out = model(torch.randn(4, 3, 64, 64))
    _, parts = multitask_loss(out, batch, config.loss_weights)
    assert "cues" in parts
    batch["cues"][:] = -1
    _, parts = multitask_loss(out, batch, config.loss_weights)
    assert "cues" not in parts


def test_the_cue_region_maps_train_the_cue_head_and_not_the_shared_features() -> None:
    """The cell-level cue term must not reshape the features the recognition heads read."""
    from training.cues import CUE_MAPS

    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2).train()
    out = model(torch.randn(2, 3, 64, 64), cue_maps=True)
    out[CUE_MAPS].sum().backward()
    trainable = [p for p in model.backbone.parameters() if p.requires_grad]
    assert trainable and all(p.grad is None for p in trainable)
    assert all(p.grad is not None for p in model.cues.parameters())
    assert CUE_MAPS not in model(torch.randn(2, 3, 64, 64))


def test_a_per_view_cue_head_reads_each_photo_with_the_head_of_its_view() -> None:
    torch.manual_seed(0)
    visibility = torch.tensor([[True, True, False], [False, True, True]])  # cue 0: view 0 only, ...
    head = CueHead([8], width=6, cues=3, visibility=visibility).eval()
    head.to(memory_format=torch.channels_last)  # as training moves it
    maps = [torch.randn(4, 8, 5, 5)]
    stamp, hardware = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    before_stamp, before_hardware = head(maps, stamp), head(maps, hardware)
    assert before_stamp.shape == (4, 3, 5, 5)
    assert not torch.allclose(before_stamp, before_hardware)
    # A view's head answers only for the cues it can show.
    assert (before_stamp[:, 2] == UNSEEN_CUE_LOGIT).all()
    assert (before_hardware[:, 0] == UNSEEN_CUE_LOGIT).all()
    assert (before_stamp[:, :2] > UNSEEN_CUE_LOGIT / 2).all()
    with torch.no_grad():  # change only the second view's output weights
        head.head[-1].weight[3:] += 1.0
    torch.testing.assert_close(head(maps, stamp), before_stamp)
    assert not torch.allclose(head(maps, hardware), before_hardware)
    # In one batch, each photo is read by its own view's head.
    mixed = head(maps, torch.tensor([0, 1, 0, 1]))
    torch.testing.assert_close(mixed[0::2], head(maps, stamp)[0::2])
    torch.testing.assert_close(mixed[1::2], head(maps, hardware)[1::2])
    # A stronger response over the whole photo (a heavier font) moves its logits: the head
    # normalises by batch statistics, not by the photo's own, which would divide it away.
    with torch.no_grad():
        head.lateral[0].bias.zero_()
    stronger = head([maps[0] * 2], stamp)
    assert (stronger[:, :2] - head(maps, stamp)[:, :2]).abs().amax() > 0.1


def test_the_reviewer_reads_cues_by_the_labelled_view_in_training_and_the_predicted_one_after() -> None:
    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2, cue_heads="per_view").eval()
    images = torch.randn(3, 3, 64, 64)
    maps = model.feature_maps(model.frozen_features(images))
    cue_maps = [maps[i] for i in model.cue_levels]
    out = model(images, cue_maps=True)
    torch.testing.assert_close(out["cue_maps"], model.cues(cue_maps, out["view"].argmax(1)))
    labelled = torch.tensor([0, 3, -1])  # the third photo's view is unknown
    routed = model(images, cue_maps=True, views=labelled)
    expected = torch.tensor([0, 3, int(out["view"][2].argmax())])
    torch.testing.assert_close(routed["cue_maps"], model.cues(cue_maps, expected))
    # Which cue each view can show comes from the taxonomy: a stamp cue only from the stamp head.
    taxonomy = load_taxonomy()
    visible = cue_visibility(taxonomy)
    stamp, hardware = taxonomy.classes("view").index("stamp"), taxonomy.classes("view").index("hardware")
    font = taxonomy.cue_names.index("stamp_font_weight")
    assert visible[stamp, font] and not visible[hardware, font] and visible.sum() == 14
    with pytest.raises(InputError, match="cue_heads"):
        Reviewer("mobilenetv3_small_050", seg_channels=16, cue_heads="per_brand")
