"""data.validate, the value checks: each catches its own breakage on the right row (ids,
labels, cues, applicability, items, cues on authentic photos, declared values)."""

from __future__ import annotations

import pytest

from data.validate import validate_manifest
from tests.unit.data.validate_helpers import base_rows, both_formats, found


@both_formats
@pytest.mark.parametrize("column", ["photo_id", "item_id"])
def test_missing_id(write, column):
    rows = base_rows()
    rows[2][column] = ""
    report = validate_manifest(write(rows))
    assert (3, column, "missing_value") in found(report)
    assert {p.code for p in report.problems} == {"missing_value"}


def test_duplicate_photo_id_reports_every_repeat_and_names_the_first_row(write):
    rows = base_rows()
    rows[3]["photo_id"] = "a2"
    rows[4]["photo_id"] = "a2"
    report = validate_manifest(write(rows))
    assert found(report) == [(4, "photo_id", "duplicate_id"), (5, "photo_id", "duplicate_id")]
    assert all("row 2" in p.message for p in report.problems)


def test_item_without_any_photo(write):
    rows = [*base_rows(), {"photo_id": "c1", "item_id": "C"}, {"photo_id": "c2", "item_id": "C"}]
    report = validate_manifest(write(rows))
    assert found(report) == [(7, "image_path", "no_photo")]
    assert "'C'" in report.problems[0].message


def test_bad_label_message_lists_the_classes(write):
    rows = base_rows()
    rows[1]["hardware_type"] = "brass"
    report = validate_manifest(write(rows))
    assert found(report) == [(2, "hardware_type", "bad_label")]
    assert report.problems[0].format() == (
        "row 2, hardware_type: 'brass' is not a hardware_type class "
        "(zipper_pull, turnlock, buckle, padlock, d_ring, snap_button)"
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("view", "closeup"),
        ("category", "Tote"),
        ("condition_grade", "E"),
        ("authenticity", "fake"),
    ],
)
def test_bad_label_in_other_tasks(write, column, value):
    rows = base_rows()
    rows[0][column] = value
    report = validate_manifest(write(rows))
    assert found(report) == [(1, column, "bad_label")]
    assert repr(value) in report.problems[0].message


@pytest.mark.parametrize("value", ["scratch|rust", "none|scratch", "Scratch", "scratch|scratch"])
def test_bad_defects(write, value):
    rows = base_rows()
    rows[4]["defects"] = value
    report = validate_manifest(write(rows))
    assert found(report) == [(5, "defects", "bad_label")]


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        (4, "cues", "stamp_colour"),  # not a taxonomy cue
        (4, "item_cues", "stamp_depth|stitch_count|glue_smell"),
        (5, "cues", "stamp_misspelling"),  # a real cue, but not one of the item's cues
    ],
)
def test_bad_cue(write, row, column, value):
    rows = base_rows()
    rows[row - 1][column] = value
    report = validate_manifest(write(rows))
    assert (row, column, "bad_cue") in found(report)
    assert {p.code for p in report.problems} == {"bad_cue"}


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        (3, "hardware_finish", "gold"),  # a stamp photo
        (2, "condition_grade", "B"),  # a hardware photo
        (1, "stamp_type", "heat_stamp"),  # an overall photo
    ],
)
def test_label_not_applicable_to_the_view(write, row, column, value):
    rows = base_rows()
    rows[row - 1][column] = value
    report = validate_manifest(write(rows))
    assert found(report) == [(row, column, "not_applicable")]


def test_applicability_not_judged_when_view_unknown(write):
    rows = base_rows()
    rows[2]["hardware_finish"] = "gold"
    rows[2]["view"] = ""  # unknown view: the label may be right
    rows[1]["view"] = "macro"  # bad view: reported once, as a bad label
    rows[1]["condition_grade"] = "B"
    report = validate_manifest(write(rows))
    assert found(report) == [(2, "view", "bad_label")]


def test_bad_split(write):
    rows = base_rows()
    for row in rows[3:]:
        row["split"] = "validation"
    report = validate_manifest(write(rows))
    assert found(report) == [(4, "split", "bad_split"), (5, "split", "bad_split"), (6, "split", "bad_split")]


def test_item_spanning_splits(write):
    rows = base_rows()
    rows[4]["split"] = "test"
    report = validate_manifest(write(rows))
    assert found(report) == [(5, "split", "split_mixed")]
    assert "'B'" in report.problems[0].message and "val (row 4)" in report.problems[0].message


@pytest.mark.parametrize(("column", "value"), [("authenticity", "authentic"), ("category", "tote")])
def test_inconsistent_item(write, column, value):
    rows = base_rows()
    rows[5][column] = value
    if column == "authenticity":
        rows[5]["item_cues"] = None  # else also cue_on_authentic
    report = validate_manifest(write(rows))
    assert found(report) == [(6, column, "inconsistent_item")]


@pytest.mark.parametrize("column", ["cues", "item_cues"])
def test_cues_on_authentic_photo(write, column):
    rows = base_rows()
    rows[0][column] = "stitch_count"
    report = validate_manifest(write(rows))
    assert found(report) == [(1, column, "cue_on_authentic")]


@pytest.mark.parametrize("value", [-1.0, float("-inf")])
def test_bad_declared_value(write, value):
    rows = base_rows()
    rows[4]["declared_value"] = value
    report = validate_manifest(write(rows))
    assert found(report) == [(5, "declared_value", "bad_value")]
