"""data.validate: a valid manifest passes; problems are sorted by row, counted and formatted;
an unreadable manifest raises; a large one is checked fast."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from PIL import Image

from data.manifest import ManifestError, write_manifest
from data.validate import ManifestProblem, ValidationReport, validate_manifest
from tests.unit.data.validate_helpers import base_rows, both_formats, found


@both_formats
def test_valid_manifest_passes(write):
    path = write(base_rows())
    report = validate_manifest(path)
    assert report.ok, report.format()
    assert (report.rows, report.items) == (6, 2)
    assert "OK" in report.format()
    # the same rows as our own writer stores them
    rewritten = write_manifest(pd.DataFrame(base_rows()), path.with_name(f"ours{path.suffix}"))
    assert validate_manifest(rewritten).ok


def test_valid_manifest_with_progress_and_one_worker(write, capsys):
    report = validate_manifest(write(base_rows()), workers=1, progress=True)
    assert report.ok, report.format()
    assert "checking images" in capsys.readouterr().err


def test_several_problems_sorted_by_row(write):
    rows = base_rows()
    rows[4]["declared_value"] = -5.0
    rows[0]["hardware_type"] = "brass"  # bad label and not applicable to an overall photo
    rows[1]["photo_id"] = "a1"
    report = validate_manifest(write(rows))
    assert found(report) == [
        (1, "hardware_type", "bad_label"),
        (1, "hardware_type", "not_applicable"),
        (2, "photo_id", "duplicate_id"),
        (5, "declared_value", "bad_value"),
    ]


@both_formats
def test_every_check_at_once(write, tmp_path):
    rows = base_rows()
    rows[0]["hardware_type"] = "brass"  # bad, and not for an overall photo
    rows[1]["photo_id"] = "a1"
    rows[2]["image_path"] = "img/gone.png"
    rows[3] |= {"cues": "stamp_misspelling", "mask_class": "dent"}
    rows[4] |= {"split": "test", "declared_value": -3.0}
    rows[5]["item_id"] = None
    d = {"item_id": "D", "view": "overall", "category": "tote"}
    rows += [
        {"photo_id": "c1", "item_id": "C"},  # 7
        {**d, "photo_id": "d1", "image_path": "img/d1.png", "split": "dev", "authenticity": "authentic"},  # 8
        {**d, "photo_id": "d2", "image_path": "img/d2.gif", "split": "train", "authenticity": "counterfeit"},
    ]
    rows[7]["cues"] = "stitch_count"
    (tmp_path / "img").mkdir()
    Image.new("RGB", (48, 48)).save(tmp_path / "img/d2.gif")
    report = validate_manifest(write(rows, skip_files=("img/gone.png",)))
    assert found(report) == [
        (1, "hardware_type", "bad_label"),
        (1, "hardware_type", "not_applicable"),
        (2, "photo_id", "duplicate_id"),
        (3, "image_path", "missing_file"),
        (4, "cues", "bad_cue"),
        (4, "mask_class", "bad_mask"),
        (5, "split", "split_mixed"),
        (5, "declared_value", "bad_value"),
        (6, "item_id", "missing_value"),
        (7, "image_path", "no_photo"),
        (8, "split", "bad_split"),
        (8, "cues", "cue_on_authentic"),
        (9, "image_path", "unreadable_file"),
        (9, "authenticity", "inconsistent_item"),
    ]
    text = report.format(max_lines=5)
    assert text.splitlines()[0].endswith(
        "14 problems in 9 rows, 4 items: bad_label 1, not_applicable 1, duplicate_id 1, missing_file 1, "
        "bad_cue 1, bad_mask 1, split_mixed 1, bad_value 1, missing_value 1, no_photo 1, bad_split 1, "
        "cue_on_authentic 1, unreadable_file 1, inconsistent_item 1"
    )
    assert text.splitlines()[-1] == "... and 9 more"


def test_unreadable_manifest_raises(tmp_path):
    (tmp_path / "m.csv").write_text("photo_id,item_id\np1,i1\n")  # no image_path column
    with pytest.raises(ManifestError, match="image_path"):
        validate_manifest(tmp_path / "m.csv")
    with pytest.raises(ManifestError):
        validate_manifest(tmp_path / "absent.parquet")


def test_format_summary_and_truncation():
    problems = [ManifestProblem(row, "split", "bad_split", f"'x{row}' is not a split") for row in range(1, 8)]
    problems.append(ManifestProblem(9, None, "no_photo", "item 'C' has no photo"))
    text = ValidationReport(rows=10, items=3, problems=problems).format(max_lines=3)
    lines = text.splitlines()
    assert lines[0] == "8 problems in 10 rows, 3 items: bad_split 7, no_photo 1"
    assert lines[1] == "row 1, split: 'x1' is not a split"
    assert lines[-1] == "... and 5 more"
    assert len(lines) == 5
    assert ValidationReport(rows=1, items=1, problems=problems[-1:]).format().splitlines()[1] == (
        "row 9: item 'C' has no photo"
    )


def test_many_rows_without_file_checks_is_fast(tmp_path):
    n = 20_000
    frame = pd.DataFrame(
        {
            "photo_id": [f"p{i}" for i in range(n)],
            "item_id": [f"i{i // 4}" for i in range(n)],
            "image_path": [f"img/{i}.jpg" for i in range(n)],
            "split": "train",
            "view": "hardware",
            "hardware_type": "buckle",
            "authenticity": "authentic",
            "defects": "scratch|stain",
        }
    )
    frame.loc[12_345, "hardware_type"] = "brass"
    path = write_manifest(frame, tmp_path / "big.parquet")
    start = time.perf_counter()
    report = validate_manifest(path, check_files=False)
    assert time.perf_counter() - start < 5
    assert found(report) == [(12_346, "hardware_type", "bad_label")]
