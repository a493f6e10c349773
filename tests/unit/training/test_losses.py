"""The cue-region term: cue maps learn where a cue is, from the photo's recorded cue region."""

from __future__ import annotations

import torch

from training.config import load_config
from training.cues import CUE_MAPS
from training.losses import cue_region_loss, multitask_loss

CUES, CELLS, PIXELS = 3, 4, 16  # the region is at 4x the cue maps' resolution


def _region(rows: slice, cols: slice) -> torch.Tensor:
    region = torch.zeros(PIXELS, PIXELS, dtype=torch.uint8)
    region[rows, cols] = 1
    return region


def _maps(cue: int, rows: slice, cols: slice) -> torch.Tensor:
    """Cue maps that fire (+6) for `cue` on the given cells and are low (-6) elsewhere."""
    maps = torch.full((CUES, CELLS, CELLS), -6.0)
    maps[cue, rows, cols] = 6.0
    return maps


def test_maps_that_fire_on_the_cue_region_for_the_shown_cue_score_best() -> None:
    labels = torch.tensor([[0, 1, 0]])
    region = _region(slice(0, 4), slice(0, 8))[None]  # the top-left cells (0, 0) and (0, 1)
    right = cue_region_loss(_maps(1, slice(0, 1), slice(0, 2))[None], labels, region)
    elsewhere = cue_region_loss(_maps(1, slice(3, 4), slice(2, 4))[None], labels, region)
    other_cue = cue_region_loss(_maps(2, slice(0, 1), slice(0, 2))[None], labels, region)
    assert right is not None and elsewhere is not None and other_cue is not None
    assert right < 0.01 < elsewhere and right < other_cue


def test_a_photo_without_cues_trains_every_cell_negative() -> None:
    labels = torch.zeros(1, CUES, dtype=torch.long)
    region = torch.zeros(1, PIXELS, PIXELS, dtype=torch.uint8)
    quiet = cue_region_loss(torch.full((1, CUES, CELLS, CELLS), -6.0), labels, region)
    firing = cue_region_loss(_maps(0, slice(0, 1), slice(0, 1))[None], labels, region)
    assert quiet is not None and firing is not None and quiet < 0.01 < firing


def test_photos_that_record_no_region_or_no_cue_labels_are_left_out() -> None:
    no_region = torch.zeros(1, PIXELS, PIXELS, dtype=torch.uint8)
    maps = torch.zeros(1, CUES, CELLS, CELLS)
    assert cue_region_loss(maps, torch.tensor([[1, 0, 0]]), no_region) is None  # shows a cue, no region
    assert cue_region_loss(maps, torch.full((1, CUES), -1), no_region) is None  # cues unknown
    # With a known photo in the batch, only that one counts.
    region = torch.stack([no_region[0], _region(slice(0, 4), slice(0, 4))])
    labels = torch.tensor([[1, 0, 0], [1, 0, 0]])
    both = torch.stack([torch.zeros(CUES, CELLS, CELLS), _maps(0, slice(0, 1), slice(0, 1))])
    alone = cue_region_loss(both[1:], labels[1:], region[1:])
    assert torch.isclose(cue_region_loss(both, labels, region), alone)


def test_multitask_loss_adds_the_term_when_the_cue_maps_are_kept() -> None:
    weights = load_config(None).loss_weights
    batch_size = 2
    out = {
        "evidence": torch.zeros(batch_size),
        "cues": torch.zeros(batch_size, CUES),
        "defects": torch.zeros(batch_size, 5, 4, 4),
        "condition_grade": torch.zeros(batch_size, 3),
        CUE_MAPS: torch.zeros(batch_size, CUES, CELLS, CELLS),
    }
    batch = {
        "evidence": torch.tensor([1, 0]),
        "cues": torch.tensor([[1, 0, 0], [0, 0, 0]]),
        "cue_region": torch.stack([_region(slice(0, 4), slice(0, 4)), torch.zeros(PIXELS, PIXELS)]),
        "item_index": torch.tensor([0, 1]),
        "item_label": torch.tensor([1, 0]),
        "condition_grade": torch.tensor([-1, -1]),
        "mask_known": torch.tensor([False, False]),
        "mask": torch.zeros(batch_size, 5, 4, 4),
    }
    for task in ("view", "category", "hardware_type", "hardware_finish", "stamp_type"):
        out[task] = torch.zeros(batch_size, 2)
        batch[task] = torch.tensor([-1, -1])
    _, parts = multitask_loss(out, batch, weights)
    assert "cue_regions" in parts
    del out[CUE_MAPS]
    _, parts = multitask_loss(out, batch, weights)
    assert "cue_regions" not in parts
