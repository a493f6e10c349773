"""data.manifest: CSV/Parquet round trips, errors, atomic writes and the small helpers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.manifest import (
    ManifestError,
    format_defects,
    manifest_columns,
    parse_defects,
    read_manifest,
    relative_to,
    resolve_image_path,
    write_manifest,
)


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "photo_id": ["p1", "p2", "p3"],
            "item_id": ["i1", "i1", "i2"],
            "image_path": ["img/p1.jpg", "img/p2.jpg", None],
            "view": ["stamp", "hardware", None],
            "hardware_type": [None, "buckle", None],
            "defects": ["none", "scratch|stain", None],
            "declared_value": [1200.5, None, 80],
            "appraiser_note": ["looks fine", None, "NA"],  # not ours: must survive
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".CSV"])
def test_round_trip(tmp_path, suffix):
    path = write_manifest(sample(), tmp_path / f"manifest{suffix}")
    frame = read_manifest(path)
    assert list(frame.columns) == [*manifest_columns(), "appraiser_note"]
    assert len(frame) == 3
    assert frame["photo_id"].tolist() == ["p1", "p2", "p3"]
    assert frame["defects"].iloc[0] == "none"  # known to have no defects...
    assert pd.isna(frame["defects"].iloc[2])  # ...is not the same as unknown
    assert pd.isna(frame["hardware_type"].iloc[0]) and frame["hardware_type"].iloc[1] == "buckle"
    assert pd.isna(frame["image_path"].iloc[2])
    assert frame["split"].isna().all()  # a column the input lacked, added empty
    assert str(frame["declared_value"].dtype) == "Float64"
    assert frame["declared_value"].iloc[0] == 1200.5 and frame["declared_value"].iloc[2] == 80.0
    assert pd.isna(frame["declared_value"].iloc[1])
    assert frame["appraiser_note"].tolist()[0] == "looks fine"
    assert frame["appraiser_note"].iloc[2] == "NA"  # the text "NA" is not a missing value
    # a second round trip changes nothing
    again = read_manifest(write_manifest(frame, tmp_path / f"again{suffix}"))
    pd.testing.assert_frame_equal(again, frame)


def test_csv_cells_are_stripped_and_blank_is_missing(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("photo_id,item_id,image_path,view,defects\n p1 ,i1,a.jpg,  ,None\n")
    frame = read_manifest(path)
    assert frame["photo_id"].iloc[0] == "p1"
    assert pd.isna(frame["view"].iloc[0])
    assert frame["defects"].iloc[0] == "None"  # left for the validator to reject, not silently dropped


@pytest.mark.parametrize("name", ["manifest.json", "manifest.tsv", "manifest"])
def test_wrong_suffix(tmp_path, name):
    with pytest.raises(ManifestError, match=r"\.csv or \.parquet"):
        write_manifest(sample(), tmp_path / name)
    (tmp_path / name).write_text("photo_id,item_id,image_path\n")
    with pytest.raises(ManifestError, match=r"\.csv or \.parquet"):
        read_manifest(tmp_path / name)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_required_column(tmp_path, suffix):
    frame = sample().drop(columns=["item_id"])
    with pytest.raises(ManifestError, match="item_id"):
        write_manifest(frame, tmp_path / f"m{suffix}")
    assert not (tmp_path / f"m{suffix}").exists()
    path = tmp_path / f"raw{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
    with pytest.raises(ManifestError, match=r"lacks required column.*item_id"):
        read_manifest(path)


def test_unreadable_or_absent_manifest(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "absent.csv")
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(tmp_path / "junk.parquet")


@pytest.mark.parametrize(("suffix", "method"), [(".csv", "to_csv"), (".parquet", "to_parquet")])
def test_write_is_atomic(tmp_path, monkeypatch, suffix, method):
    path = write_manifest(sample(), tmp_path / f"manifest{suffix}")
    before = path.read_bytes()

    def half_then_crash(self, target, *args, **kwargs):
        Path(target).write_bytes(b"photo_id,item_id,ima")  # a partial write...
        raise OSError("disk full")  # ...then the writer dies

    monkeypatch.setattr(pd.DataFrame, method, half_then_crash)
    changed = sample().assign(item_id="other")
    with pytest.raises(OSError, match="disk full"):
        write_manifest(changed, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left behind
    monkeypatch.undo()
    assert read_manifest(path)["item_id"].tolist() == ["i1", "i1", "i2"]


def test_write_replaces_and_creates_folders(tmp_path):
    path = write_manifest(sample(), tmp_path / "deep" / "er" / "m.csv")
    write_manifest(sample().iloc[:1], path)
    assert len(read_manifest(path)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["m.csv"]


def test_resolve_image_path(tmp_path):
    manifest = tmp_path / "sets" / "m.csv"
    assert resolve_image_path(manifest, "img/a.jpg") == (tmp_path / "sets" / "img" / "a.jpg").resolve()
    assert resolve_image_path(manifest, "/data/a.jpg") == Path("/data/a.jpg")
    assert relative_to(tmp_path / "sets" / "img" / "a.jpg", tmp_path / "sets") == "img/a.jpg"
    assert relative_to(tmp_path / "elsewhere.jpg", tmp_path / "sets") == str(
        (tmp_path / "elsewhere.jpg").resolve()
    )


@pytest.mark.parametrize(
    ("cell", "parsed"),
    [
        ("none", []),
        ("scratch", ["scratch"]),
        ("scratch|stain", ["scratch", "stain"]),
        (None, None),
        (pd.NA, None),
    ],
)
def test_parse_defects(cell, parsed):
    assert parse_defects(cell) == parsed
    if parsed is not None:
        assert parse_defects(format_defects(parsed)) == parsed
