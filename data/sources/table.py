"""A user's own CSV or Parquet table of photos, mapped column by column onto the manifest.

Values are copied, not translated: a label that is not a taxonomy class is an error to
fix in the table (or in the mapping), never a guess made here. `source` is always "table".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.manifest import SPLITS, manifest_columns, parse_defects, relative_to
from data.sources._common import finish, layout_error
from data.splits import split_for_item
from data.taxonomy import load_taxonomy
from secondlook.errors import InputError

SOURCE = "table"
EXPECTED = """
ROOT = a .csv or .parquet file, one row per photo, e.g.
  file,sku,bag_type
  photos/0001.jpg,A17,tote
with mapping = {"image_path": "file", "item_id": "sku", "category": "bag_type"}
(columns already named like the manifest's map themselves)
"""


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".csv", ".parquet"):
        raise layout_error(SOURCE, path, EXPECTED, "ROOT must be a .csv or .parquet file")
    if suffix == ".csv":
        # Only an empty cell is missing: "NA" or "None" in a user's file stay text.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


def _resolve_mapping(table: pd.DataFrame, mapping: dict[str, str] | None, path: Path) -> dict[str, str]:
    """Manifest column -> table column; same-named columns map themselves unless mapped otherwise."""
    columns = manifest_columns()
    mapping = dict(mapping or {})
    unknown_targets = [target for target in mapping if target not in columns]
    if unknown_targets:
        raise InputError(
            f"mapping names unknown manifest column(s) {', '.join(unknown_targets)} "
            f"(manifest columns: {', '.join(columns)})"
        )
    absent = [f"{target} <- {name}" for target, name in mapping.items() if name not in table.columns]
    if absent:
        raise layout_error(
            SOURCE,
            path,
            EXPECTED,
            f"mapping names column(s) the table lacks: {', '.join(absent)} "
            f"(table columns: {', '.join(map(str, table.columns))})",
        )
    mapped = set(mapping.values())
    for column in columns:
        if column not in mapping and column in table.columns and column not in mapped:
            mapping[column] = column
    if "image_path" not in mapping:
        raise layout_error(
            SOURCE,
            path,
            EXPECTED,
            f"no image path column: map one with mapping={{'image_path': ...}} "
            f"(table columns: {', '.join(map(str, table.columns))})",
        )
    return mapping


def _check_labels(frame: pd.DataFrame) -> None:
    """Every copied label must be a taxonomy class (defects: '|'-joined classes or 'none')."""
    taxonomy = load_taxonomy()
    for task in taxonomy.task_names:
        if task not in frame.columns:
            continue
        values = frame[task].dropna().unique()
        if task == "defects":
            bad = sorted(
                {str(v) for v in values if not set(parse_defects(v) or []) <= set(taxonomy.classes(task))}
            )
        else:
            bad = sorted({str(v) for v in values if v not in taxonomy.classes(task)})
        if bad:
            raise InputError(
                f"column {task}: {', '.join(bad[:10])} not {task} classes "
                f"(allowed: {', '.join(taxonomy.classes(task))})"
            )
    bad_splits = sorted(set(frame["split"].dropna()) - set(SPLITS))
    if bad_splits:
        raise InputError(f"column split: {', '.join(bad_splits)} not splits (allowed: {', '.join(SPLITS)})")


def import_table(
    root: Path,
    out_dir: Path,
    *,
    split_seed: int = 0,
    mapping: dict[str, str] | None = None,
    image_root: Path | None = None,
) -> pd.DataFrame:
    """Rows of the table whose image exists; the others are counted in `attrs["skipped"]`."""
    path, out_dir = Path(root), Path(out_dir)
    table = _read_table(path)
    mapping = _resolve_mapping(table, mapping, path)
    image_root = Path(image_root) if image_root is not None else path.parent

    frame = pd.DataFrame(
        {target: table[name].astype("string").str.strip() for target, name in mapping.items()}
    )
    frame = frame.replace("", pd.NA)
    empty = frame.index[frame["image_path"].isna()]
    if len(empty):
        rows = ", ".join(str(i + 1) for i in empty[:10])
        raise layout_error(SOURCE, path, EXPECTED, f"no image path on data row(s) {rows} (1 = first row)")

    images = [image_root / value for value in frame["image_path"]]
    # Paths in the table are relative to the image root and stay inside it: an absolute
    # path or `..` in a third party's CSV must not reach the rest of the disk.
    inside = image_root.resolve()
    outside = [i + 1 for i, image in enumerate(images) if not image.resolve().is_relative_to(inside)]
    if outside:
        rows = ", ".join(map(str, outside[:10]))
        raise layout_error(
            SOURCE, path, EXPECTED, f"image path outside the image root {image_root} on data row(s) {rows}"
        )
    exists = pd.Series([image.is_file() for image in images], index=frame.index)
    derived_ids = pd.Series(
        [relative_to(image, image_root) for image in images], index=frame.index, dtype="string"
    )
    frame["image_path"] = [relative_to(image, out_dir) for image in images]
    frame["photo_id"] = frame["photo_id"].fillna(derived_ids) if "photo_id" in frame else derived_ids
    frame["item_id"] = frame["item_id"].fillna(frame["photo_id"]) if "item_id" in frame else frame["photo_id"]
    if "split" not in frame:
        frame["split"] = pd.NA
    # An empty cell takes the split its item has on another row, else the hashed one.
    given = frame.dropna(subset=["split"]).groupby("item_id")["split"].first()
    frame["split"] = frame["split"].fillna(frame["item_id"].map(given))
    frame["split"] = [
        split if not pd.isna(split) else split_for_item(item, split_seed)
        for split, item in zip(frame["split"], frame["item_id"], strict=True)
    ]
    _check_labels(frame)
    duplicated = frame["photo_id"][frame["photo_id"].duplicated()]
    if len(duplicated):
        raise InputError(f"photo_id not unique: {', '.join(duplicated.unique()[:10])}")
    splits_per_item = frame.groupby("item_id")["split"].nunique()
    straddling = splits_per_item.index[splits_per_item > 1]
    if len(straddling):
        raise InputError(f"item(s) in more than one split: {', '.join(map(str, straddling[:10]))}")

    kept = frame[exists]
    return finish(kept.to_dict("records"), SOURCE, skipped=int((~exists).sum()))
