"""The manifest checks on its values, vectorised: ids, labels, cues, applicability, items, extras.

Each check takes the frame `read_manifest` returns and lists its `ManifestProblem`s; the
file checks (images and masks on disk) are in data/validate_files.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from data.manifest import LIST_SEPARATOR, NO_DEFECTS, SPLITS, split_list
from data.taxonomy import Taxonomy
from data.validate_problem import (
    ManifestProblem,
    class_list,
    data_row,
    flags,
    name_unknown,
    per_value,
    problems_from_messages,
    problems_where,
)

_ITEM_COLUMNS = ("authenticity", "category")  # item-level labels, the same on every photo


def check_ids(frame: pd.DataFrame) -> list[ManifestProblem]:
    problems: list[ManifestProblem] = []
    for column in ("photo_id", "item_id"):
        problems += problems_where(frame[column].isna(), column, "missing_value", f"{column} is empty")

    ids = frame["photo_id"]
    duplicated = flags(ids.notna() & ids.duplicated(keep="first"))
    if duplicated.any():
        first_row = ids[ids.notna()].drop_duplicates(keep="first")
        first_row = pd.Series(first_row.index.to_numpy() + 1, index=first_row.to_numpy())
        dup = ids[duplicated]
        problems += problems_where(
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
            ManifestProblem(
                data_row(i),
                "image_path",
                "no_photo",
                f"item {v!r} has no photo (none of its {sizes[v]} rows has an image_path)",
            )
            for i, v in first.items()
        ]
    return problems


def check_labels(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[ManifestProblem]:
    problems: list[ManifestProblem] = []
    for task in taxonomy.tasks:
        column = frame[task.name]
        if task.name == "defects":
            problems += problems_from_messages(
                per_value(column, _defects_checker(task.classes)), "defects", "bad_label"
            )
            continue
        bad = flags(column.notna() & ~column.isin(task.classes))
        if bad.any():
            problems += problems_where(
                bad,
                task.name,
                "bad_label",
                (f"{v!r} is not a {task.name} class ({class_list(task.classes)})" for v in column[bad]),
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
                f"{name_unknown(unknown)} a defects class ({class_list(classes)}, "
                f"or {NO_DEFECTS!r}, separated by {LIST_SEPARATOR!r})"
            )
        if len(set(parts)) != len(parts):
            return f"{value!r} lists a defect class twice"
        return None

    return check


def check_cues(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[ManifestProblem]:
    problems: list[ManifestProblem] = []
    names = set(taxonomy.cue_names)

    def check(value: str) -> str | None:
        unknown = [p for p in split_list(value) if p not in names]
        if unknown:
            return f"{name_unknown(unknown)} a counterfeit cue ({class_list(taxonomy.cue_names)})"
        return None

    for column in ("cues", "item_cues"):
        problems += problems_from_messages(per_value(frame[column], check), column, "bad_cue")

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
        problems += problems_from_messages(messages, "cues", "bad_cue")
    return problems


def check_applicability(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[ManifestProblem]:
    problems: list[ManifestProblem] = []
    view = frame["view"]
    for task in taxonomy.tasks:
        not_applicable = [v for v in taxonomy.view_names if not taxonomy.applies(task.name, v)]
        if not not_applicable:
            continue
        # A view outside the taxonomy is a bad_label of its own; its photo is not judged here.
        bad = flags(view.isin(not_applicable) & frame[task.name].notna())
        if bad.any():
            problems += problems_where(
                bad,
                task.name,
                "not_applicable",
                (
                    f"{label!r} given on a photo whose view is {v}; {task.name} applies to "
                    f"{class_list(task.applies_to)} photos only"
                    for label, v in zip(frame.loc[bad, task.name], view[bad], strict=True)
                ),
            )
    return problems


def check_items(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[ManifestProblem]:
    problems: list[ManifestProblem] = []
    split = frame["split"]
    bad = flags(split.notna() & ~split.isin(SPLITS))
    problems += problems_where(
        bad, "split", "bad_split", (f"{v!r} is not a split ({class_list(SPLITS)})" for v in split[bad])
    )

    allowed = {"split": SPLITS, **{c: taxonomy.classes(c) for c in _ITEM_COLUMNS}}
    for column, code in (("split", "split_mixed"), *((c, "inconsistent_item") for c in _ITEM_COLUMNS)):
        problems += _item_disagreements(frame, column, allowed[column], code)
    return problems


def _item_disagreements(
    frame: pd.DataFrame, column: str, allowed: tuple[str, ...], code: str
) -> list[ManifestProblem]:
    """Items whose valid `column` values differ, reported on the first row departing from the item's first."""
    values = frame[column]
    usable = flags(frame["item_id"].notna() & values.isin(allowed))
    # The first row of each (item, value), in row order: an item's second entry there is
    # the first of its rows that departs from its first value.
    pairs = frame.loc[usable, ["item_id", column]].drop_duplicates()
    later = pairs["item_id"].duplicated(keep="first")
    if not later.any():
        return []
    departing = pairs[later].drop_duplicates("item_id", keep="first")
    where: dict[str, list[str]] = {}
    for index, item, value in pairs[pairs["item_id"].isin(departing["item_id"])].itertuples(name=None):
        where.setdefault(item, []).append(f"{value} (row {data_row(index)})")
    what = "photos in several splits" if column == "split" else f"photos that disagree on {column}"
    return [
        ManifestProblem(data_row(i), column, code, f"item {item!r} has {what}: {', '.join(where[item])}")
        for i, item in departing["item_id"].items()
    ]


def check_extras(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[ManifestProblem]:
    """Cues on authentic photos, mask_class values (not whether the mask file exists), declared_value."""
    problems: list[ManifestProblem] = []
    authentic = flags(frame["authenticity"] == "authentic")
    for column, what in (("cues", "photo"), ("item_cues", "item")):
        bad = flags(authentic & frame[column].notna())
        problems += problems_where(
            bad,
            column,
            "cue_on_authentic",
            (f"an authentic {what} cannot have counterfeit cues ({v})" for v in frame.loc[bad, column]),
        )

    mask_class = frame["mask_class"]
    defects = taxonomy.classes("defects")
    bad = flags(mask_class.notna() & ~mask_class.isin(defects))
    problems += problems_where(
        bad,
        "mask_class",
        "bad_mask",
        (f"{v!r} is not a defect class ({class_list(defects)})" for v in mask_class[bad]),
    )
    orphan = mask_class.notna() & frame["mask_path"].isna()
    problems += problems_where(orphan, "mask_class", "bad_mask", "mask_class is set but mask_path is empty")

    array = frame["declared_value"].to_numpy(dtype="float64", na_value=np.nan)
    value = pd.Series(array, index=frame.index)
    with np.errstate(invalid="ignore"):
        bad_value = ~np.isnan(array) & ((array < 0) | ~np.isfinite(array))
    problems += [
        ManifestProblem(
            data_row(i),
            "declared_value",
            "bad_value",
            f"declared_value {v:g} is negative"
            if math.isfinite(v)
            else f"declared_value {v} is not a finite number",
        )
        for i, v in value[bad_value].items()
    ]
    return problems
