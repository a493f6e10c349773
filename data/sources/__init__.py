"""Importers that turn public datasets (and a user's own table) into manifest frames.

Each importer only lists files and reads metadata: it never decodes an image and never
writes into the dataset. Image paths come out relative to `out_dir`, the folder the
manifest will be written to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.sources._common import SourceLayoutError
from data.sources.abo import import_abo
from data.sources.fashion import import_fashion
from data.sources.imagefolder import import_imagefolder
from data.sources.mvtec import import_mvtec
from data.sources.table import import_table
from secondlook.errors import InputError

__all__ = ["SOURCES", "Source", "SourceLayoutError", "import_source"]


@dataclass(frozen=True)
class Source:
    """One importer as the CLI lists it; `options` are the keyword arguments it accepts."""

    name: str
    help: str
    importer: Callable[..., pd.DataFrame]
    options: tuple[str, ...]


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "imagefolder",
            "ROOT/<class>/<image> trees, optionally split into train/ val/ test/.",
            import_imagefolder,
            ("split_seed", "task", "ignore_unknown"),
        ),
        Source(
            "table",
            "Your own CSV or Parquet table (ROOT = the file), columns mapped onto the manifest.",
            import_table,
            ("split_seed", "mapping", "image_root"),
        ),
        Source("mvtec", "MVTec AD defect photos and masks.", import_mvtec, ("split_seed",)),
        Source(
            "abo", "Amazon Berkeley Objects catalog listings.", import_abo, ("split_seed", "keep_unmapped")
        ),
        Source(
            "fashion",
            "Fashion Product Images (Kaggle, paramaggarwal).",
            import_fashion,
            ("split_seed", "keep_unmapped"),
        ),
    )
}


def import_source(name: str, root: Path, out_dir: Path, **options: object) -> pd.DataFrame:
    """Run the importer called `name`; unknown names and options fail before any file is read."""
    source = SOURCES.get(name)
    if source is None:
        raise InputError(f"unknown source {name!r} (sources: {', '.join(SOURCES)})")
    unknown = [option for option in options if option not in source.options]
    if unknown:
        raise InputError(
            f"source {name!r} does not accept option(s) {', '.join(unknown)} "
            f"(options: {', '.join(source.options)})"
        )
    return source.importer(Path(root), Path(out_dir), **options)
