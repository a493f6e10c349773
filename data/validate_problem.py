"""A manifest finding (`ManifestProblem`) and the helpers the checks build them with.

The checks (data/validate_values.py, data/validate_files.py) work on whole columns: a boolean
mask over the frame's rows, or one message per distinct value, becomes one problem per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ManifestProblem:
    row: int  # 1-based data row; the CSV line is row + 1
    column: str | None
    code: str
    message: str

    def format(self) -> str:
        where = f"row {self.row}, {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.message}"


def data_row(index: int) -> int:
    """The 1-based data row of the frame's 0-based `index`."""
    return int(index) + 1


def flags(mask: pd.Series) -> pd.Series:
    """A boolean mask as plain numpy bools, missing counting as False (pandas may hand back
    nullable or Arrow booleans, which do not index the same way)."""
    return pd.Series(mask.fillna(False).to_numpy(dtype=bool), index=mask.index)


def problems_where(
    rows: pd.Series, column: str | None, code: str, message: Iterable[str] | str
) -> list[ManifestProblem]:
    """One ManifestProblem per True entry of the boolean `rows` (indexed like the frame)."""
    index = rows.index[flags(rows).to_numpy()]
    if isinstance(message, str):
        return [ManifestProblem(data_row(i), column, code, message) for i in index]
    messages = list(message)
    return [ManifestProblem(data_row(i), column, code, m) for i, m in zip(index, messages, strict=True)]


def problems_from_messages(messages: pd.Series, column: str, code: str) -> list[ManifestProblem]:
    """One ManifestProblem per non-missing message (indexed like the frame)."""
    messages = messages.dropna()
    return [ManifestProblem(data_row(i), column, code, m) for i, m in messages.items()]


def class_list(classes: Iterable[str]) -> str:
    return ", ".join(classes)


def name_unknown(values: list[str]) -> str:
    """Name the unknown values: `'a' is not`, `'a', 'b' are not`."""
    return f"{', '.join(repr(v) for v in values)} {'is' if len(values) == 1 else 'are'} not"


def per_value(series: pd.Series, check: Callable[[str], str | None]) -> pd.Series:
    """Apply `check` (a value -> message or None) once per distinct non-missing value."""
    present = series.dropna()
    verdicts = {value: check(value) for value in present.unique()}
    return present.map(verdicts)
