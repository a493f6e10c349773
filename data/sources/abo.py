"""Amazon Berkeley Objects (ABO): catalog listings with several photos each.

Only the category can come from ABO, through its product type, and only where the
product type names one of our categories without doubt (CATEGORY_MAP). HANDBAG,
SHOULDER_BAG and the like are deliberately absent: an Amazon "handbag" may be a tote,
a shoulder bag or a top-handle bag, and a wrong category teaches the model more harm
than a missing one. Such listings are dropped unless `keep_unmapped`.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from data.manifest import relative_to
from data.sources._common import finish, layout_error
from data.splits import split_for_item
from secondlook.errors import InputError

SOURCE = "abo"
# ABO product_type value -> taxonomy category.
CATEGORY_MAP: dict[str, str] = {
    "WALLET": "wallet",
}
EXPECTED = """
ROOT/
  listings/metadata/listings_<i>.json.gz     JSON lines, one listing each
  images/metadata/images.csv.gz              image_id,height,width,path
  images/small/<path>                        e.g. images/small/8c/8ccb5859.jpg
"""


def _read_image_paths(path: Path) -> dict[str, str]:
    """image_id -> path below images/small/."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return {row["image_id"]: row["path"] for row in csv.DictReader(handle)}


def _listings(files: list[Path]) -> Iterator[dict]:
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{number}: not a JSON listing ({exc.msg})") from None


def _product_type(listing: dict) -> str | None:
    values = [entry.get("value") for entry in listing.get("product_type") or [] if entry.get("value")]
    return values[0] if values else None


def _item_name(listing: dict) -> str | None:
    """The English name when there is one, else the first."""
    names = listing.get("item_name") or []
    english = [n["value"] for n in names if str(n.get("language_tag", "")).startswith("en")]
    return english[0] if english else (names[0].get("value") if names else None)


def import_abo(
    root: Path, out_dir: Path, *, split_seed: int = 0, keep_unmapped: bool = False
) -> pd.DataFrame:
    """One row per image of each kept listing.

    attrs: skipped = images listed but not on disk (or unknown to images.csv.gz);
    duplicates = images already taken by an earlier listing (a photo belongs to one item).
    """
    root, out_dir = Path(root), Path(out_dir)
    listing_files = sorted((root / "listings" / "metadata").glob("listings_*.json.gz"))
    images_csv = root / "images" / "metadata" / "images.csv.gz"
    image_dir = root / "images" / "small"
    missing = [
        name
        for name, ok in (
            ("listings/metadata/listings_*.json.gz", bool(listing_files)),
            ("images/metadata/images.csv.gz", images_csv.is_file()),
            ("images/small/", image_dir.is_dir()),
        )
        if not ok
    ]
    if missing:
        raise layout_error(SOURCE, root, EXPECTED, f"missing {', '.join(missing)}")

    image_paths = _read_image_paths(images_csv)
    rows, seen, skipped, duplicates = [], set(), 0, 0
    for listing in _listings(listing_files):
        product_type = _product_type(listing)
        category = CATEGORY_MAP.get(product_type or "")
        if category is None and not keep_unmapped:
            continue
        item_id = str(listing["item_id"])
        image_ids = [listing.get("main_image_id"), *(listing.get("other_image_id") or [])]
        for image_id in filter(None, image_ids):
            if image_id in seen:
                duplicates += 1
                continue
            relative = image_paths.get(image_id)
            image = image_dir / relative if relative else None
            if image is None or not image.is_file():
                skipped += 1
                continue
            seen.add(image_id)
            rows.append(
                {
                    "photo_id": image_id,
                    "item_id": item_id,
                    "image_path": relative_to(image, out_dir),
                    "split": split_for_item(item_id, split_seed),
                    "category": category,
                    "source_category": product_type,
                    "item_name": _item_name(listing),
                }
            )
    return finish(rows, SOURCE, skipped=skipped, duplicates=duplicates)
