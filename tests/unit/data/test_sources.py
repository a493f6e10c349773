"""The dataset importers, each on a miniature tree of its real layout."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest

from data.manifest import SPLITS, read_manifest, resolve_image_path, write_manifest
from data.masks import load_mask
from data.sources import SOURCES, SourceLayoutError, import_source
from data.sources.abo import import_abo
from data.sources.fashion import import_fashion
from data.sources.imagefolder import import_imagefolder
from data.sources.mvtec import defect_class, import_mvtec
from data.sources.table import import_table
from data.splits import split_for_item
from data.taxonomy import load_taxonomy
from tests.dataset_trees import abo_tree, fashion_tree, image, mvtec_tree, table_tree


def _assert_files_resolve(frame: pd.DataFrame, out_dir: Path, column: str = "image_path") -> None:
    manifest = out_dir / "manifest.csv"
    for value in frame[column].dropna():
        assert not Path(value).is_absolute(), value
        assert resolve_image_path(manifest, value).is_file(), value


def _assert_item_consistent_splits(frame: pd.DataFrame) -> None:
    assert frame["split"].notna().all()
    assert set(frame["split"]) <= set(SPLITS)
    assert (frame.groupby("item_id")["split"].nunique() == 1).all()


# -- registry --------------------------------------------------------------------


def test_registry_options_match_the_importers_keyword_arguments():
    for name, source in SOURCES.items():
        keyword_only = [
            p.name
            for p in inspect.signature(source.importer).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        assert source.name == name
        assert set(source.options) == set(keyword_only), name
        assert source.help


def test_import_source_rejects_unknown_source_and_option(tmp_path):
    with pytest.raises(ValueError, match=r"unknown source 'nope'.*imagefolder.*mvtec"):
        import_source("nope", tmp_path, tmp_path)
    with pytest.raises(ValueError, match=r"does not accept option\(s\) task"):
        import_source("mvtec", tmp_path, tmp_path, task="category")


# -- imagefolder -----------------------------------------------------------------


def test_imagefolder_flat_tree(tmp_path):
    root = tmp_path / "bags"
    image(root / "wallet" / "a.jpg")
    image(root / "wallet" / "nested" / "b.PNG")
    image(root / "tote" / "c.jpeg")
    (root / "tote" / "notes.txt").write_text("not an image")
    image(root / ".cache" / "d.jpg")  # hidden: not a class folder

    frame = import_source("imagefolder", root, tmp_path)

    assert sorted(frame["photo_id"]) == ["tote/c.jpeg", "wallet/a.jpg", "wallet/nested/b.PNG"]
    assert dict(zip(frame["photo_id"], frame["category"], strict=True)) == {
        "tote/c.jpeg": "tote",
        "wallet/a.jpg": "wallet",
        "wallet/nested/b.PNG": "wallet",
    }
    assert (frame["item_id"] == frame["photo_id"]).all()
    assert (frame["source"] == "imagefolder").all()
    assert frame["condition_grade"].isna().all() and frame["defects"].isna().all()
    assert list(frame["split"]) == [split_for_item(p, 0) for p in frame["photo_id"]]
    _assert_files_resolve(frame, tmp_path)
    assert frame["image_path"].str.startswith("bags/").all()


def test_imagefolder_split_folders_give_the_split(tmp_path):
    root = tmp_path / "bags"
    image(root / "train" / "wallet" / "a.jpg")
    image(root / "valid" / "tote" / "b.webp")
    image(root / "test" / "clutch" / "c.png")

    frame = import_imagefolder(root, tmp_path, split_seed=3)

    assert dict(zip(frame["photo_id"], frame["split"], strict=True)) == {
        "train/wallet/a.jpg": "train",
        "valid/tote/b.webp": "val",
        "test/clutch/c.png": "test",
    }
    assert sorted(frame["category"]) == ["clutch", "tote", "wallet"]
    _assert_files_resolve(frame, tmp_path)


def test_imagefolder_unknown_folder_names(tmp_path):
    root = tmp_path / "bags"
    image(root / "wallet" / "a.jpg")
    image(root / "backpack" / "b.jpg")

    with pytest.raises(SourceLayoutError, match="backpack") as error:
        import_imagefolder(root, tmp_path)
    assert "card_holder" in str(error.value)  # the allowed classes are listed

    frame = import_imagefolder(root, tmp_path, ignore_unknown=True)
    assert list(frame["photo_id"]) == ["wallet/a.jpg"]
    assert frame.attrs["ignored_folders"] == 1


def test_imagefolder_other_task(tmp_path):
    root = tmp_path / "wear"
    image(root / "scratch" / "a.png")
    image(root / "none" / "b.png")

    frame = import_imagefolder(root, tmp_path, task="defects")

    assert dict(zip(frame["photo_id"], frame["defects"], strict=True)) == {
        "scratch/a.png": "scratch",
        "none/b.png": "none",
    }
    assert frame["category"].isna().all()
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        import_imagefolder(root, tmp_path, task="colour")


# -- table -----------------------------------------------------------------------


MAPPING = {"image_path": "file", "item_id": "sku", "category": "bag_type", "condition_grade": "grade"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_maps_columns_and_skips_missing_images(tmp_path, suffix):
    path = table_tree(tmp_path)
    if suffix == ".parquet":
        pd.read_csv(path, dtype=str).to_parquet(path.with_suffix(".parquet"), index=False)
        path = path.with_suffix(".parquet")
    out_dir = tmp_path

    frame = import_source("table", path, out_dir, mapping=MAPPING)

    assert frame.attrs["skipped"] == 1
    assert list(frame["photo_id"]) == ["photos/1.jpg", "photos/2.jpg", "photos/3.jpg"]
    assert list(frame["item_id"]) == ["A17", "A17", "photos/3.jpg"]  # missing item_id -> photo_id
    assert list(frame["category"]) == ["tote", "tote", "wallet"]
    assert frame["condition_grade"].tolist()[0] == "B" and pd.isna(frame["condition_grade"][1])
    assert "notes" not in frame.columns
    assert (frame["source"] == "table").all()
    _assert_item_consistent_splits(frame)
    _assert_files_resolve(frame, out_dir)


def test_table_image_root_option(tmp_path):
    photos = tmp_path / "elsewhere"
    image(photos / "p.jpg")
    path = tmp_path / "tables" / "t.csv"
    path.parent.mkdir()
    pd.DataFrame({"image_path": ["p.jpg"], "category": ["clutch"], "split": ["val"]}).to_csv(
        path, index=False
    )

    frame = import_table(path, tmp_path / "tables", image_root=photos)

    assert list(frame["photo_id"]) == ["p.jpg"]
    assert list(frame["split"]) == ["val"]  # a given split is kept
    assert Path(frame["image_path"][0]).is_absolute()  # outside out_dir: recorded absolute
    assert Path(frame["image_path"][0]) == (photos / "p.jpg").resolve()


def test_table_paths_stay_inside_the_image_root(tmp_path):
    path = table_tree(tmp_path)
    secret = tmp_path / "secret.jpg"  # beside the image root, not in it
    image(secret)
    for escape in ("../secret.jpg", str(secret)):
        pd.DataFrame({"image_path": ["photos/1.jpg", escape]}).to_csv(path, index=False)
        with pytest.raises(SourceLayoutError, match=r"outside the image root .* data row\(s\) 2\n"):
            import_table(path, tmp_path)


def test_table_mapping_errors(tmp_path):
    path = table_tree(tmp_path)
    with pytest.raises(SourceLayoutError, match=r"item_id <- article") as error:
        import_table(path, tmp_path, mapping={"image_path": "file", "item_id": "article"})
    assert "table columns: file, sku, bag_type, grade, notes" in str(error.value)
    with pytest.raises(ValueError, match=r"unknown manifest column\(s\) bag.*manifest columns: photo_id"):
        import_table(path, tmp_path, mapping={"image_path": "file", "bag": "bag_type"})
    with pytest.raises(SourceLayoutError, match="no image path column"):
        import_table(path, tmp_path, mapping={"item_id": "sku"})


def test_table_rejects_labels_outside_the_taxonomy(tmp_path):
    path = table_tree(tmp_path)
    pd.DataFrame({"image_path": ["photos/1.jpg"], "category": ["bucket_bag"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column category: bucket_bag not category classes"):
        import_table(path, tmp_path)

    pd.DataFrame({"image_path": ["photos/1.jpg"], "defects": ["scratch|dent"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column defects: scratch\|dent"):
        import_table(path, tmp_path)


def test_table_rejects_an_item_in_two_splits(tmp_path):
    path = table_tree(tmp_path)
    table = pd.DataFrame({"image_path": ["photos/1.jpg", "photos/2.jpg"], "item_id": ["A", "A"]})
    table.assign(split=["train", "test"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"item\(s\) in more than one split: A"):
        import_table(path, tmp_path)

    table.assign(split=[None, "val"]).to_csv(path, index=False)  # an empty cell follows its item
    frame = import_table(path, tmp_path)
    assert list(frame["split"]) == ["val", "val"]


# -- mvtec -----------------------------------------------------------------------


def test_mvtec_dataset_root(tmp_path):
    root = mvtec_tree(tmp_path / "mvtec_ad")

    frame = import_mvtec(root, tmp_path).set_index("photo_id", drop=False)

    assert len(frame) == 10
    assert frame.attrs["unmapped"] == 1 and frame.attrs["missing_masks"] == 0
    assert frame.loc["leather/test/color/000.png", "defects"] == "stain"
    assert frame.loc["leather/test/fold/000.png", "defects"] == "scuff"
    assert frame.loc["metal_nut/test/color/000.png", "defects"] == "tarnish"
    flip = frame.loc["metal_nut/test/flip/000.png"]
    assert pd.isna(flip["defects"]) and pd.isna(flip["mask_path"]) and flip["mvtec_defect"] == "flip"

    good = frame[frame["mvtec_defect"] == "good"]
    assert len(good) == 6
    assert (good["defects"] == "none").all() and (good["condition_grade"] == "A").all()
    assert good["mask_path"].isna().all()
    defective = frame[frame["mvtec_defect"] != "good"]
    assert defective["condition_grade"].isna().all()

    masked = frame[frame["mask_path"].notna()]
    assert sorted(masked["photo_id"]) == [
        "leather/test/color/000.png",
        "leather/test/fold/000.png",
        "metal_nut/test/color/000.png",
    ]
    assert (masked["mask_class"] == masked["defects"]).all()
    _assert_files_resolve(frame, tmp_path, "image_path")
    _assert_files_resolve(frame, tmp_path, "mask_path")
    row = masked.loc["leather/test/color/000.png"]
    channels = load_mask(resolve_image_path(tmp_path / "m.csv", row["mask_path"]), row["mask_class"])
    classes = load_taxonomy().classes("defects")
    assert channels[classes.index("stain")].sum() == 64 and channels.sum() == 64

    assert frame["category"].isna().all()
    assert set(frame["mvtec_category"]) == {"leather", "metal_nut"}
    is_test = frame["photo_id"].str.contains("/test/")
    assert (frame.loc[is_test, "split"] == "test").all()
    assert set(frame.loc[~is_test, "split"]) <= {"train", "val"}
    _assert_item_consistent_splits(frame)


def test_mvtec_single_category_root_gives_the_same_ids(tmp_path):
    root = mvtec_tree(tmp_path / "mvtec_ad")
    whole = import_mvtec(root, tmp_path)
    leather = import_mvtec(root / "leather", tmp_path)

    expected = whole[whole["mvtec_category"] == "leather"].reset_index(drop=True)
    pd.testing.assert_frame_equal(leather, expected)


def test_mvtec_defect_table_uses_only_taxonomy_classes():
    from data.sources.mvtec import DEFECT_MAP

    assert set(DEFECT_MAP.values()) <= set(load_taxonomy().classes("defects"))
    assert defect_class("metal_nut", "color") == "tarnish"
    assert defect_class("wood", "color") == "stain"
    assert defect_class("screw", "thread_side") is None


# -- abo -------------------------------------------------------------------------


def test_abo_one_row_per_image_of_mapped_listings(tmp_path):
    root = abo_tree(tmp_path / "abo")

    frame = import_source("abo", root, tmp_path)

    assert list(frame["photo_id"]) == ["img1", "img2", "img5"]
    assert list(frame["item_id"]) == ["B01W", "B01W", "B03W"]
    assert (frame["category"] == "wallet").all()
    assert list(frame["item_name"]) == ["B01W wallet", "B01W wallet", "B03W wallet"]
    assert frame.attrs["skipped"] == 2  # img3 missing on disk, img-unknown missing from images.csv.gz
    assert (frame["source"] == "abo").all()
    _assert_item_consistent_splits(frame)
    _assert_files_resolve(frame, tmp_path)


def test_abo_keep_unmapped_keeps_the_category_empty(tmp_path):
    root = abo_tree(tmp_path / "abo")

    frame = import_abo(root, tmp_path, keep_unmapped=True).set_index("photo_id")

    assert len(frame) == 4
    assert pd.isna(frame.loc["img4", "category"]) and frame.loc["img4", "source_category"] == "HANDBAG"


# -- fashion ---------------------------------------------------------------------


def test_fashion_parses_commas_in_names_and_skips_missing_images(tmp_path):
    root = fashion_tree(tmp_path / "fashion-dataset")

    frame = import_source("fashion", root, tmp_path).set_index("photo_id", drop=False)

    assert list(frame["photo_id"]) == ["15970", "39386"]
    assert frame.loc["39386", "item_name"] == "Lino Perros Women, Red, Clutch, with Chain"
    assert frame.loc["39386", "category"] == "clutch" and frame.loc["15970", "category"] == "wallet"
    assert frame.attrs["skipped"] == 1 and frame.attrs["malformed"] == 0
    assert (frame["item_id"] == frame["photo_id"]).all()
    _assert_item_consistent_splits(frame)
    _assert_files_resolve(frame, tmp_path)


def test_fashion_keep_unmapped(tmp_path):
    root = fashion_tree(tmp_path / "fashion-dataset")

    frame = import_fashion(root, tmp_path, keep_unmapped=True).set_index("photo_id")

    assert sorted(frame.index) == ["15970", "39386", "53759", "59263"]
    assert frame["category"].isna().sum() == 2
    assert frame.loc["59263", "source_category"] == "Handbags"


# -- wrong folder ----------------------------------------------------------------

LAYOUT_HINTS = {
    "imagefolder": "<class>/",
    "table": ".csv or .parquet",
    "mvtec": "ground_truth/<defect_type>/<stem>_mask.png",
    "abo": "images/metadata/images.csv.gz",
    "fashion": "styles.csv",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_explains_an_empty_folder(tmp_path, name):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceLayoutError) as error:
        import_source(name, empty, tmp_path)
    message = str(error.value)
    assert "expected layout" in message and LAYOUT_HINTS[name] in message
    assert "an empty folder" in message


@pytest.mark.parametrize("name", ["mvtec", "abo", "fashion", "table"])
def test_other_sources_refuse_an_imagefolder_tree(tmp_path, name):
    root = tmp_path / "bags"
    image(root / "train" / "wallet" / "a.jpg")
    image(root / "test" / "tote" / "b.jpg")
    with pytest.raises(SourceLayoutError) as error:
        import_source(name, root, tmp_path)
    message = str(error.value)
    assert LAYOUT_HINTS[name] in message
    assert "found at" in message and "test/, train/" in message


def test_imagefolder_refuses_anmvtec_tree(tmp_path):
    root = mvtec_tree(tmp_path / "mvtec_ad")
    with pytest.raises(SourceLayoutError, match="leather") as error:
        import_imagefolder(root, tmp_path)
    assert LAYOUT_HINTS["imagefolder"] in str(error.value)


# -- round trip ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_imported_frames_round_trip_through_the_manifest(tmp_path, suffix):
    frames = [
        import_mvtec(mvtec_tree(tmp_path / "mvtec_ad"), tmp_path),
        import_fashion(fashion_tree(tmp_path / "fashion"), tmp_path),
        import_abo(abo_tree(tmp_path / "abo"), tmp_path, keep_unmapped=True),
    ]
    for index, frame in enumerate(frames):
        path = write_manifest(frame, tmp_path / f"manifest{index}{suffix}")
        back = read_manifest(path)
        pd.testing.assert_frame_equal(back, frame)
        _assert_files_resolve(back, path.parent)
