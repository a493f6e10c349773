"""data.validate, the file checks: missing and unreadable images, and masks (bad mask_class,
mask_class without a mask, a mask file not on disk), each on the right row."""

from __future__ import annotations

import numpy as np
from PIL import Image

from data.validate import validate_manifest
from tests.unit.data.validate_helpers import base_rows, found


def test_missing_image_file(write):
    report = validate_manifest(write(base_rows(), skip_files=("img/b2.jpg",)))
    assert found(report) == [(5, "image_path", "missing_file")]
    assert "b2.jpg" in report.problems[0].message
    assert validate_manifest(report.path, check_files=False).ok


def test_unreadable_files(write, tmp_path):
    rows = base_rows()
    rows[0]["image_path"] = "img/a1.gif"
    rows[4]["image_path"] = "img/b2_cut.jpg"
    rows[5]["image_path"] = "img/b2_cut.jpg"  # the same broken file on two rows: both reported
    (tmp_path / "img").mkdir()
    Image.new("RGB", (48, 48), "red").save(tmp_path / "img/a1.gif", "GIF")
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "img/full.jpg", "JPEG")
    data = (tmp_path / "img/full.jpg").read_bytes()
    (tmp_path / "img/b2_cut.jpg").write_bytes(data[: len(data) // 2])
    report = validate_manifest(write(rows))
    assert found(report) == [
        (1, "image_path", "unreadable_file"),
        (5, "image_path", "unreadable_file"),
        (6, "image_path", "unreadable_file"),
    ]
    assert "unsupported_format" in report.problems[0].message
    assert "truncated" in report.problems[1].message
    assert validate_manifest(report.path, check_files=False).ok


def test_bad_mask(write):
    rows = base_rows()
    rows[3]["mask_class"] = "dent"
    rows[1]["mask_path"] = "masks/gone.png"
    rows[4]["mask_class"] = "stain"  # no mask_path on that row
    path = write(rows, skip_files=("masks/gone.png",))
    report = validate_manifest(path)
    assert found(report) == [
        (2, "mask_path", "bad_mask"),
        (4, "mask_class", "bad_mask"),
        (5, "mask_class", "bad_mask"),
    ]
    assert "gone.png" in report.problems[0].message
    assert [(p.row, p.code) for p in validate_manifest(path, check_files=False).problems] == [
        (4, "bad_mask"),
        (5, "bad_mask"),
    ]
