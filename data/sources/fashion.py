"""Fashion Product Images (Kaggle, paramaggarwal): one catalog photo per product.

Only `category` can come from here, through articleType, and only where the article
type names one of our categories without doubt (CATEGORY_MAP). "Handbags" is
deliberately absent: it covers totes, shoulder bags and top-handle bags alike.
Rows whose article type does not map are dropped unless `keep_unmapped`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from data.manifest import relative_to
from data.sources._common import finish, layout_error
from data.splits import split_for_item

SOURCE = "fashion"
# articleType -> taxonomy category.
CATEGORY_MAP: dict[str, str] = {
    "Wallets": "wallet",
    "Clutches": "clutch",
}
HEADER = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
)
EXPECTED = f"""
ROOT/
  styles.csv                {",".join(HEADER)}
  images/<id>.jpg
"""


def _parse_line(line: str) -> dict[str, str] | None:
    """Split on the first 9 commas only: productDisplayName may itself hold commas."""
    fields = line.rstrip("\r\n").split(",", len(HEADER) - 1)
    return dict(zip(HEADER, fields, strict=True)) if len(fields) == len(HEADER) else None


def import_fashion(
    root: Path, out_dir: Path, *, split_seed: int = 0, keep_unmapped: bool = False
) -> pd.DataFrame:
    """One row per kept product whose image exists.

    attrs: skipped = kept rows without an image file; malformed = lines with too few fields.
    """
    root, out_dir = Path(root), Path(out_dir)
    styles, image_dir = root / "styles.csv", root / "images"
    if not styles.is_file() or not image_dir.is_dir():
        raise layout_error(SOURCE, root, EXPECTED, "missing styles.csv or images/")
    # One listing of images/ instead of a stat per row.
    on_disk = {entry.name for entry in os.scandir(image_dir) if entry.is_file()}

    rows, skipped, malformed = [], 0, 0
    with styles.open(encoding="utf-8-sig", newline="") as handle:
        header = tuple(field.strip() for field in handle.readline().rstrip("\r\n").split(","))
        if header != HEADER:
            raise layout_error(SOURCE, root, EXPECTED, f"styles.csv header is {','.join(header)!r}")
        for line in handle:
            if not line.strip():
                continue
            record = _parse_line(line)
            if record is None or not record["id"].strip():
                malformed += 1
                continue
            category = CATEGORY_MAP.get(record["articleType"].strip())
            if category is None and not keep_unmapped:
                continue
            photo_id = record["id"].strip()
            if f"{photo_id}.jpg" not in on_disk:
                skipped += 1
                continue
            rows.append(
                {
                    "photo_id": photo_id,
                    "item_id": photo_id,
                    "image_path": relative_to(image_dir / f"{photo_id}.jpg", out_dir),
                    "split": split_for_item(photo_id, split_seed),
                    "category": category,
                    "source_category": record["articleType"],
                    "item_name": record["productDisplayName"],
                }
            )
    return finish(rows, SOURCE, skipped=skipped, malformed=malformed)
