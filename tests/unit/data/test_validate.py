"""data.validate: a valid manifest passes; each check catches its own breakage on the right row."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data.manifest import ManifestError, write_manifest
from data.masks import encode_bitmask
from data.validate import Problem, ValidationReport, validate_manifest

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}


def base_rows() -> list[dict]:
    """A small valid manifest. Row numbers in the tests are list index + 1."""
    authentic = {"item_id": "A", "split": "train", "category": "tote", "authenticity": "authentic"}
    counterfeit = {
        "item_id": "B",
        "split": "val",
        "category": "clutch",
        "authenticity": "counterfeit",
        "item_cues": "stamp_depth|stitch_count",
    }
    a1 = {"photo_id": "a1", "image_path": "img/a1.png", "view": "overall", "condition_grade": "A"}
    a2 = {"photo_id": "a2", "image_path": "img/a2.jpg", "view": "hardware", "hardware_type": "turnlock"}
    a3 = {"photo_id": "a3", "image_path": "img/a3.webp", "view": "stamp", "stamp_type": "heat_stamp"}
    b1 = {"photo_id": "b1", "image_path": "img/b1.png", "view": "stamp", "stamp_type": "date_code"}
    b2 = {"photo_id": "b2", "image_path": "img/b2.jpg", "view": "detail", "condition_grade": "C"}
    a2 |= {"hardware_finish": "gold", "defects": "scratch", "mask_path": "masks/a2.png"}
    b1 |= {"cues": "stamp_depth", "defects": "scuff", "mask_path": "masks/b1.png", "mask_class": "scuff"}
    b2 |= {"cues": "stitch_count", "defects": "scratch|stain", "declared_value": 80.5}
    return [
        {**authentic, **a1, "defects": "none", "declared_value": 1200.0},  # 1
        {**authentic, **a2},  # 2
        {**authentic, **a3},  # 3: defects unknown (empty) is fine
        {**counterfeit, **b1},  # 4
        {**counterfeit, **b2},  # 5
        {**counterfeit, "photo_id": "b3"},  # 6: an item record without a photo: fine, item B has photos
    ]


def _write_image(path: Path, size: tuple[int, int] = (48, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(len(path.name)).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, FORMATS[path.suffix])


def _write_mask(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = np.zeros((5, 40, 48), dtype=bool)
    channels[0, :10, :10] = True
    encode_bitmask(channels).save(path)


@pytest.fixture
def write(request, tmp_path):
    """write(rows) -> manifest path, with every image and mask the rows name created beside it.

    A CSV unless parametrised (`both_formats`). Written with plain pandas, as a user's own
    tool would, not with write_manifest.
    """
    suffix = getattr(request, "param", ".csv")

    def _write(rows: list[dict], *, skip_files: tuple[str, ...] = ()) -> Path:
        for row in rows:
            for key, make in (("image_path", _write_image), ("mask_path", _write_mask)):
                name = row.get(key)
                if name and name not in skip_files and not (tmp_path / name).exists():
                    make(tmp_path / name)
        path = tmp_path / f"manifest{suffix}"
        frame = pd.DataFrame(rows)
        frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
        return path

    return _write


# The validator sees the same frame whichever the format; these run on both readers.
both_formats = pytest.mark.parametrize("write", [".csv", ".parquet"], indirect=True)


def found(report: ValidationReport) -> list[tuple[int, str | None, str]]:
    return [(p.row, p.column, p.code) for p in report.problems]


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


@pytest.mark.parametrize("value", [-1.0, float("-inf")])
def test_bad_declared_value(write, value):
    rows = base_rows()
    rows[4]["declared_value"] = value
    report = validate_manifest(write(rows))
    assert found(report) == [(5, "declared_value", "bad_value")]


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
    problems = [Problem(row, "split", "bad_split", f"'x{row}' is not a split") for row in range(1, 8)]
    problems.append(Problem(9, None, "no_photo", "item 'C' has no photo"))
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
