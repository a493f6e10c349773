"""Check a manifest against the label contract before anything trains on it.

`validate_manifest` reads a manifest (CSV or Parquet, see data/manifest.py) and lists
every problem it finds, each with its data row (row 1 is the first row under the CSV
header, so CSV line = row + 1), the column at fault and a stable `code`:

- missing_value: empty photo_id or item_id
- duplicate_id: a photo_id already used on an earlier row
- no_photo: an item none of whose rows has an image_path
- missing_file / unreadable_file: the image is not on disk / does not decode safely
  (data/decode.py); only with check_files
- bad_label: a task column value that is not a class of the task (`defects`: classes
  separated by '|', or `none`)
- bad_cue: a cue that is not a taxonomy counterfeit cue, or a photo cue missing from
  its item_cues
- not_applicable: a task label on a photo whose view the task does not apply to
- bad_split, split_mixed: a split that is not train/val/test; an item in several splits
- inconsistent_item: an item whose photos disagree on authenticity or category
- cue_on_authentic: counterfeit cues on an authentic photo
- bad_mask: mask_path not on disk, mask_class not a defect class, mask_class without mask
- bad_value: declared_value negative or not finite

Everything except the file checks is vectorised, so 100k rows take a second or two.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.decode import ImageDecodeError, decode_image
from data.manifest import (
    LIST_SEPARATOR,
    NO_DEFECTS,
    SPLITS,
    read_manifest,
    resolve_image_path,
    split_list,
)
from data.taxonomy import Taxonomy, load_taxonomy

# Only whether a photo decodes matters here, not its pixels: JPEGs are decoded at a
# reduced DCT scale, which still reads (and so checks) every byte of the file.
_DECODE_REDUCE_TO = 256
_ITEM_COLUMNS = ("authenticity", "category")  # item-level labels, the same on every photo


@dataclass(frozen=True)
class Problem:
    row: int  # 1-based data row; the CSV line is row + 1
    column: str | None
    code: str
    message: str

    def format(self) -> str:
        where = f"row {self.row}, {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.message}"


@dataclass
class ValidationReport:
    rows: int
    items: int
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Number of problems per code, most frequent first."""
        return dict(Counter(p.code for p in self.problems).most_common())

    def format(self, max_lines: int = 50) -> str:
        name = f"{self.path}: " if self.path is not None else ""
        size = f"{self.rows} rows, {self.items} items"
        if self.ok:
            return f"{name}OK ({size}, no problems)"
        per_code = ", ".join(f"{code} {n}" for code, n in self.counts().items())
        count = len(self.problems)
        lines = [f"{name}{count} problem{'' if count == 1 else 's'} in {size}: {per_code}"]
        lines += [problem.format() for problem in self.problems[:max_lines]]
        if len(self.problems) > max_lines:
            lines.append(f"... and {len(self.problems) - max_lines} more")
        return "\n".join(lines)


def validate_manifest(
    path: Path, *, check_files: bool = True, workers: int = 4, progress: bool = False
) -> ValidationReport:
    """Validate the manifest at `path`; a ManifestError if it cannot be read at all."""
    path = Path(path)
    taxonomy = load_taxonomy()
    frame = read_manifest(path, taxonomy)
    problems: list[Problem] = []
    problems += _check_ids(frame)
    problems += _check_labels(frame, taxonomy)
    problems += _check_cues(frame, taxonomy)
    problems += _check_applicability(frame, taxonomy)
    problems += _check_items(frame, taxonomy)
    problems += _check_extras(frame, taxonomy, path, check_files)
    if check_files:
        problems += _check_images(frame, path, workers=workers, progress=progress)
    columns = list(frame.columns)
    problems.sort(key=lambda p: (p.row, columns.index(p.column) if p.column in columns else -1, p.code))
    items = int(frame["item_id"].nunique(dropna=True))
    return ValidationReport(rows=len(frame), items=items, problems=problems, path=path)


# -- helpers -------------------------------------------------------------------------


def _row(index: int) -> int:
    return int(index) + 1


def _flags(mask: pd.Series) -> pd.Series:
    """A boolean mask as plain numpy bools, missing counting as False (pandas may hand back
    nullable or Arrow booleans, which do not index the same way)."""
    return pd.Series(mask.fillna(False).to_numpy(dtype=bool), index=mask.index)


def _problems(rows: pd.Series, column: str | None, code: str, message: Iterable[str] | str) -> list[Problem]:
    """One Problem per True entry of the boolean `rows` (indexed like the frame)."""
    index = rows.index[_flags(rows).to_numpy()]
    if isinstance(message, str):
        return [Problem(_row(i), column, code, message) for i in index]
    messages = list(message)
    return [Problem(_row(i), column, code, m) for i, m in zip(index, messages, strict=True)]


def _class_list(classes: Iterable[str]) -> str:
    return ", ".join(classes)


def _unknown(values: list[str]) -> str:
    """Name the unknown values: `'a' is not`, `'a', 'b' are not`."""
    return f"{', '.join(repr(v) for v in values)} {'is' if len(values) == 1 else 'are'} not"


def _per_value(series: pd.Series, check: Callable[[str], str | None]) -> pd.Series:
    """Apply `check` (a value -> message or None) once per distinct non-missing value."""
    present = series.dropna()
    verdicts = {value: check(value) for value in present.unique()}
    return present.map(verdicts)


def _report_messages(messages: pd.Series, column: str, code: str) -> list[Problem]:
    messages = messages.dropna()
    return [Problem(_row(i), column, code, m) for i, m in messages.items()]


# -- checks ------------------------------------------------------------------------


def _check_ids(frame: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    for column in ("photo_id", "item_id"):
        problems += _problems(frame[column].isna(), column, "missing_value", f"{column} is empty")

    ids = frame["photo_id"]
    duplicated = _flags(ids.notna() & ids.duplicated(keep="first"))
    if duplicated.any():
        first_row = ids[ids.notna()].drop_duplicates(keep="first")
        first_row = pd.Series(first_row.index.to_numpy() + 1, index=first_row.to_numpy())
        dup = ids[duplicated]
        problems += _problems(
            duplicated,
            "photo_id",
            "duplicate_id",
            (f"photo_id {v!r} already used on row {first_row[v]}" for v in dup),
        )

    items = frame["item_id"]
    has_photo = frame["image_path"].notna().groupby(items).any()
    photoless = has_photo.index[~has_photo.to_numpy()]
    if len(photoless):
        known = items.notna()
        first = items[known & items.isin(photoless)].drop_duplicates(keep="first")
        sizes = items[known].value_counts()
        problems += [
            Problem(
                _row(i),
                "image_path",
                "no_photo",
                f"item {v!r} has no photo (none of its {sizes[v]} rows has an image_path)",
            )
            for i, v in first.items()
        ]
    return problems


def _check_labels(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[Problem]:
    problems: list[Problem] = []
    for task in taxonomy.tasks:
        column = frame[task.name]
        if task.name == "defects":
            problems += _report_messages(
                _per_value(column, _defects_checker(task.classes)), "defects", "bad_label"
            )
            continue
        bad = _flags(column.notna() & ~column.isin(task.classes))
        if bad.any():
            problems += _problems(
                bad,
                task.name,
                "bad_label",
                (f"{v!r} is not a {task.name} class ({_class_list(task.classes)})" for v in column[bad]),
            )
    return problems


def _defects_checker(classes: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        parts = split_list(value)
        if parts == [NO_DEFECTS]:
            return None
        if NO_DEFECTS in parts:
            return f"{value!r}: {NO_DEFECTS!r} cannot be combined with defect classes"
        unknown = [p for p in parts if p not in classes]
        if unknown:
            return (
                f"{_unknown(unknown)} a defects class ({_class_list(classes)}, "
                f"or {NO_DEFECTS!r}, separated by {LIST_SEPARATOR!r})"
            )
        if len(set(parts)) != len(parts):
            return f"{value!r} lists a defect class twice"
        return None

    return check


def _check_cues(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[Problem]:
    problems: list[Problem] = []
    names = set(taxonomy.cue_names)

    def check(value: str) -> str | None:
        unknown = [p for p in split_list(value) if p not in names]
        if unknown:
            return f"{_unknown(unknown)} a counterfeit cue ({_class_list(taxonomy.cue_names)})"
        return None

    for column in ("cues", "item_cues"):
        problems += _report_messages(_per_value(frame[column], check), column, "bad_cue")

    both = frame["cues"].notna() & frame["item_cues"].notna()
    if both.any():
        pairs = frame.loc[both, ["cues", "item_cues"]]
        verdicts = {}
        for cues, item_cues in pairs.drop_duplicates().itertuples(index=False):
            extra = [c for c in split_list(cues) if c not in set(split_list(item_cues))]
            verdicts[(cues, item_cues)] = (
                f"cue(s) {', '.join(repr(c) for c in extra)} not among the item's cues ({item_cues})"
                if extra
                else None
            )
        messages = pd.Series(
            [verdicts[(c, i)] for c, i in pairs.itertuples(index=False)], index=pairs.index, dtype=object
        )
        problems += _report_messages(messages, "cues", "bad_cue")
    return problems


def _check_applicability(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[Problem]:
    problems: list[Problem] = []
    view = frame["view"]
    for task in taxonomy.tasks:
        not_applicable = [v for v in taxonomy.view_names if not taxonomy.applies(task.name, v)]
        if not not_applicable:
            continue
        # A view outside the taxonomy is a bad_label of its own; its photo is not judged here.
        bad = _flags(view.isin(not_applicable) & frame[task.name].notna())
        if bad.any():
            problems += _problems(
                bad,
                task.name,
                "not_applicable",
                (
                    f"{label!r} given on a photo whose view is {v}; {task.name} applies to "
                    f"{_class_list(task.applies_to)} photos only"
                    for label, v in zip(frame.loc[bad, task.name], view[bad], strict=True)
                ),
            )
    return problems


def _check_items(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[Problem]:
    problems: list[Problem] = []
    split = frame["split"]
    bad = _flags(split.notna() & ~split.isin(SPLITS))
    problems += _problems(
        bad, "split", "bad_split", (f"{v!r} is not a split ({_class_list(SPLITS)})" for v in split[bad])
    )

    allowed = {"split": SPLITS, **{c: taxonomy.classes(c) for c in _ITEM_COLUMNS}}
    for column, code in (("split", "split_mixed"), *((c, "inconsistent_item") for c in _ITEM_COLUMNS)):
        problems += _item_disagreements(frame, column, allowed[column], code)
    return problems


def _item_disagreements(
    frame: pd.DataFrame, column: str, allowed: tuple[str, ...], code: str
) -> list[Problem]:
    """Items whose valid `column` values differ, reported on the first row departing from the item's first."""
    values = frame[column]
    usable = _flags(frame["item_id"].notna() & values.isin(allowed))
    # The first row of each (item, value), in row order: an item's second entry there is
    # the first of its rows that departs from its first value.
    pairs = frame.loc[usable, ["item_id", column]].drop_duplicates()
    later = pairs["item_id"].duplicated(keep="first")
    if not later.any():
        return []
    departing = pairs[later].drop_duplicates("item_id", keep="first")
    where: dict[str, list[str]] = {}
    for index, item, value in pairs[pairs["item_id"].isin(departing["item_id"])].itertuples(name=None):
        where.setdefault(item, []).append(f"{value} (row {_row(index)})")
    what = "photos in several splits" if column == "split" else f"photos that disagree on {column}"
    return [
        Problem(_row(i), column, code, f"item {item!r} has {what}: {', '.join(where[item])}")
        for i, item in departing["item_id"].items()
    ]


def _check_extras(frame: pd.DataFrame, taxonomy: Taxonomy, path: Path, check_files: bool) -> list[Problem]:
    problems: list[Problem] = []
    authentic = _flags(frame["authenticity"] == "authentic")
    for column, what in (("cues", "photo"), ("item_cues", "item")):
        bad = _flags(authentic & frame[column].notna())
        problems += _problems(
            bad,
            column,
            "cue_on_authentic",
            (f"an authentic {what} cannot have counterfeit cues ({v})" for v in frame.loc[bad, column]),
        )

    mask_class = frame["mask_class"]
    defects = taxonomy.classes("defects")
    bad = _flags(mask_class.notna() & ~mask_class.isin(defects))
    problems += _problems(
        bad,
        "mask_class",
        "bad_mask",
        (f"{v!r} is not a defect class ({_class_list(defects)})" for v in mask_class[bad]),
    )
    orphan = mask_class.notna() & frame["mask_path"].isna()
    problems += _problems(orphan, "mask_class", "bad_mask", "mask_class is set but mask_path is empty")
    if check_files:
        mask_paths = frame["mask_path"].dropna()
        exists = {p: resolve_image_path(path, p).is_file() for p in mask_paths.unique()}
        missing = mask_paths[~mask_paths.map(exists).astype(bool)]
        problems += [
            Problem(_row(i), "mask_path", "bad_mask", f"mask file not found: {resolve_image_path(path, p)}")
            for i, p in missing.items()
        ]

    array = frame["declared_value"].to_numpy(dtype="float64", na_value=np.nan)
    value = pd.Series(array, index=frame.index)
    with np.errstate(invalid="ignore"):
        bad_value = ~np.isnan(array) & ((array < 0) | ~np.isfinite(array))
    problems += [
        Problem(
            _row(i),
            "declared_value",
            "bad_value",
            f"declared_value {v:g} is negative"
            if math.isfinite(v)
            else f"declared_value {v} is not a finite number",
        )
        for i, v in value[bad_value].items()
    ]
    return problems


def _decode_problem(file: Path) -> tuple[str, str] | None:
    try:
        decode_image(file, reduce_to=_DECODE_REDUCE_TO)
    except ImageDecodeError as exc:
        if exc.code == "not_found":
            return "missing_file", f"image file not found: {file}"
        return "unreadable_file", f"cannot decode ({exc.code}): {exc.message}"
    except RuntimeError:  # a broken environment (see decode_image), not a broken photo
        raise
    except Exception as exc:  # a decoder bug on one odd file must not stop the whole check
        return "unreadable_file", f"{file.name}: unexpected {type(exc).__name__} while decoding: {exc}"
    return None


def _check_images(frame: pd.DataFrame, path: Path, *, workers: int, progress: bool) -> list[Problem]:
    image_paths = frame["image_path"].dropna()
    files = {p: resolve_image_path(path, p) for p in image_paths.unique()}
    verdicts: dict[str, tuple[str, str] | None] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(_decode_problem, file): p for p, file in files.items()}
        done = as_completed(futures)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc="checking images", unit="file")
        for future in done:
            verdicts[futures[future]] = future.result()
    finally:  # on an error or Ctrl-C, do not decode the rest first
        pool.shutdown(wait=True, cancel_futures=True)
    return [
        Problem(_row(i), "image_path", *verdict)
        for i, p in image_paths.items()
        if (verdict := verdicts[p]) is not None
    ]
