"""Shared by the data.validate tests: a small valid manifest, the `write` fixture that puts it
on disk with its images and masks, and `found`, a report's problems as (row, column, code).

tests/unit/data/conftest.py registers `write`; the test modules import the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data.masks import encode_bitmask
from data.validate import ValidationReport

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
