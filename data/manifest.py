"""The manifest: one row per photo, the format every data source produces and every
later stage (training, evaluation, batch re-scoring) reads. See docs/architecture.md, 'The manifest'.

Columns, in order:
- photo_id, item_id, image_path (relative to the manifest's folder, or absolute)
- split: train | val | test, or empty
- one column per taxonomy task (view, category, hardware_type, ... authenticity);
  empty when unknown or not applicable to the photo's view. `defects` lists the
  defect classes in the photo separated by '|', or `none`; empty means unknown.
- cues: the counterfeit cues visible in this photo, '|'-separated, empty when it shows
  none; item_cues: all the cues of the item. Per-photo cues are known when the item is
  authentic or its item_cues are given (synthetic data); otherwise only the item label is.
- mask_path: optional defect mask (see data/masks.py), mask_class: set when the mask
  is a plain binary mask of that one defect class
- declared_value: optional, in the platform's currency
- source: where the row came from (synth, imagefolder, mvtec, ...)

CSV and Parquet are both read and written; the file suffix decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from data.atomic import atomic_path
from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import SecondlookError

LIST_SEPARATOR = "|"
NO_DEFECTS = "none"  # `defects` value of a photo known to have none (empty = unknown)
SPLITS = ("train", "val", "test")
ID_COLUMNS = ("photo_id", "item_id", "image_path", "split")
EXTRA_COLUMNS = ("cues", "item_cues", "mask_path", "mask_class", "declared_value", "source")
REQUIRED_COLUMNS = ("photo_id", "item_id", "image_path")
SUFFIXES = (".csv", ".parquet")


class ManifestError(SecondlookError, ValueError):
    """A manifest that cannot be read or written (wrong suffix, missing columns...)."""


def manifest_columns(taxonomy: Taxonomy | None = None) -> list[str]:
    taxonomy = taxonomy or load_taxonomy()
    return [*ID_COLUMNS, *taxonomy.task_names, *EXTRA_COLUMNS]


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ManifestError(f"{path}: a manifest must end in .csv or .parquet, not {suffix or 'nothing'!r}")
    return suffix


def normalise(frame: pd.DataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Add missing optional columns, order them, and give them their dtypes.

    Every column is a nullable string except declared_value (float). Columns we do
    not know are kept, after ours, so a user's own bookkeeping survives a round trip.
    """
    columns = manifest_columns(taxonomy)
    missing_required = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing_required:
        raise ManifestError(f"manifest lacks required column(s): {', '.join(missing_required)}")
    frame = frame.copy()
    for column in columns:
        if column not in frame.columns:
            frame[column] = pd.NA
    extra = [c for c in frame.columns if c not in columns]
    frame = frame[columns + extra]
    for column in columns:
        if column == "declared_value":
            frame[column] = _numeric_column(frame[column], column)
        else:
            frame[column] = frame[column].astype("string").str.strip().replace("", pd.NA)
    return frame.reset_index(drop=True)


def _numeric_column(values: pd.Series, name: str) -> pd.Series:
    """Numbers stay numbers, blanks become missing; anything else is an error naming the rows."""
    as_text = values.astype("string").str.strip().replace("", pd.NA)
    numbers = pd.to_numeric(as_text, errors="coerce")
    bad = as_text.notna() & numbers.isna()
    if bad.any():
        rows = ", ".join(f"row {i + 1} ({as_text[i]!r})" for i in bad[bad].index[:5])
        raise ManifestError(f"{name} must be a plain number (no thousands separators): {rows}")
    return numbers.astype("Float64")


def read_manifest(path: str | Path, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet manifest; a one-line ManifestError for anything unreadable."""
    path = Path(path)
    suffix = _check_suffix(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        if suffix == ".csv":
            # Only an empty cell is missing: "NA" or "None" in a user's file stay text.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ManifestError(f"{path}: cannot read manifest ({str(exc).splitlines()[0]})") from None
    return normalise(frame, taxonomy)


def write_manifest(frame: pd.DataFrame, path: str | Path, taxonomy: Taxonomy | None = None) -> Path:
    """Write atomically (temp file, fsync, rename): a killed writer leaves the old file or none."""
    path = Path(path)
    suffix = _check_suffix(path)
    frame = normalise(frame, taxonomy)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def resolve_image_path(manifest_path: str | Path, image_path: str) -> Path:
    """Image paths in a manifest are relative to its folder unless absolute."""
    candidate = Path(image_path)
    return candidate if candidate.is_absolute() else Path(manifest_path).resolve().parent / candidate


def split_list(value: object) -> list[str]:
    """Parse a '|'-separated cell; missing or empty gives []."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return []
    return [part for part in str(value).split(LIST_SEPARATOR) if part]


def join_list(values: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(values)


def parse_defects(value: object) -> list[str] | None:
    """The defect classes of a photo: [] when known to have none, None when unknown."""
    parts = split_list(value)
    if not parts:
        return None
    return [] if parts == [NO_DEFECTS] else parts


def format_defects(classes: Iterable[str]) -> str:
    classes = list(classes)
    return join_list(classes) if classes else NO_DEFECTS


def relative_to(path: Path, folder: Path) -> str:
    """A path as the manifest in `folder` should record it: relative when below it, else absolute."""
    path, folder = path.resolve(), folder.resolve()
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)
