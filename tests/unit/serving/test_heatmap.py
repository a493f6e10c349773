"""The evidence heatmap: reviewers' maps averaged on one grid, laid over a bounded copy of the photo."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from serving.heatmap import HEATMAP_MAX_SIDE, evidence_grid, heatmap_jpeg, overlay


def test_reviewers_maps_of_different_resolutions_average_after_calibration() -> None:
    a = np.full((14, 14), 0.0, np.float32)  # logit 0: probability 0.5
    b = np.full((15, 15), 100.0, np.float32)  # sure, but its temperature is huge: also 0.5
    grid = evidence_grid({"a": a, "b": b}, {"a": 1.0, "b": 1e6})
    assert grid.shape == (15, 15) and np.allclose(grid, 0.5, atol=1e-4)
    sure = evidence_grid({"a": np.full((14, 14), 20.0, np.float32)}, {})
    assert np.allclose(sure, 1.0)


def test_the_overlay_is_red_where_the_evidence_is_and_the_photo_elsewhere() -> None:
    photo = Image.new("RGB", (200, 100), (0, 0, 200))
    heat = np.zeros((10, 10), np.float32)
    heat[:, 5:] = 1.0  # evidence on the right half
    pixels = np.asarray(overlay(photo, heat)).astype(int)
    assert pixels.shape == (100, 200, 3)
    assert tuple(pixels[50, 10]) == (0, 0, 200)  # left: the photo untouched
    assert abs(pixels[50, 190] - (128, 0, 100)).max() <= 1  # right: half red


def test_a_large_photo_is_shrunk_before_anything_is_computed_on_it() -> None:
    photo = Image.new("RGB", (4000, 1000), (10, 20, 30))
    shown = overlay(photo, np.zeros((14, 14), np.float32))
    assert shown.size == (HEATMAP_MAX_SIDE, HEATMAP_MAX_SIDE // 4)
    assert Image.open(io.BytesIO(heatmap_jpeg(photo, np.zeros((14, 14))))).format == "JPEG"
