"""Stream a manifest (CSV or Parquet) as inventory items, without loading it whole.

A manifest has one row per photo; an item's rows must be consecutive (as every manifest
secondlook writes is). Only the columns re-scoring needs are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from data.manifest import resolve_image_path
from secondlook.errors import InputError, MissingInput

NEEDED = ("item_id", "image_path")
OPTIONAL = ("view", "category", "declared_value")


@dataclass(frozen=True)
class InventoryItem:
    item_id: str
    photos: tuple[str, ...]  # absolute paths
    views: tuple[str | None, ...]
    category: str | None = None
    declared_value: float | None = None


def _chunks(manifest: Path, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
    if manifest.suffix == ".parquet":
        source = pq.ParquetFile(manifest)
        present = [c for c in columns if c in source.schema_arrow.names]
        for batch in source.iter_batches(batch_size=rows, columns=present):
            yield batch.to_pandas()
        return
    header = pd.read_csv(manifest, nrows=0).columns
    present = [c for c in columns if c in header]
    yield from pd.read_csv(manifest, usecols=present, dtype=str, keep_default_na=False, chunksize=rows)


def _columns(manifest: Path) -> list[str]:
    if not manifest.is_file():
        raise MissingInput(f"manifest {manifest} does not exist")
    if manifest.suffix not in (".csv", ".parquet"):
        raise InputError(f"manifest {manifest}: expected a .csv or .parquet file")
    names = (
        pq.ParquetFile(manifest).schema_arrow.names
        if manifest.suffix == ".parquet"
        else list(pd.read_csv(manifest, nrows=0).columns)
    )
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise InputError(f"manifest {manifest} lacks the column(s) {', '.join(missing)}")
    return [*NEEDED, *(c for c in OPTIONAL if c in names)]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _number(value: object) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return math.nan  # reported as a bad row by the caller
    return number


def count_items(manifest: str | Path, chunk_rows: int = 50_000) -> int:
    """How many items the manifest holds (one pass over its item_id column)."""
    manifest = Path(manifest)
    _columns(manifest)
    count, previous = 0, None
    for chunk in _chunks(manifest, ["item_id"], chunk_rows):
        for item_id in chunk["item_id"].astype(str):
            if item_id != previous:
                count, previous = count + 1, item_id
    return count


def stream_items(manifest: str | Path, chunk_rows: int = 50_000) -> Iterator[InventoryItem]:
    """The manifest's items in order, holding at most one chunk of rows in memory."""
    manifest = Path(manifest)
    columns = _columns(manifest)
    current: list[dict] = []
    for chunk in _chunks(manifest, columns, chunk_rows):
        for row in chunk.to_dict("records"):
            if current and str(row["item_id"]) != str(current[0]["item_id"]):
                yield _item(manifest, current)
                current = []
            current.append(row)
    if current:
        yield _item(manifest, current)


def _item(manifest: Path, rows: list[dict]) -> InventoryItem:
    first = rows[0]
    return InventoryItem(
        item_id=str(first["item_id"]),
        photos=tuple(str(resolve_image_path(manifest, str(r["image_path"]))) for r in rows),
        views=tuple(_text(r.get("view")) for r in rows),
        category=_text(first.get("category")),
        declared_value=_number(first.get("declared_value")),
    )
