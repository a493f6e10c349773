"""Manifest rows -> per-photo training targets, with "unknown" kept apart from "negative".

-1 marks a label the row does not have (unknown, or not applicable to its view); those
rows are masked out of that task's loss, so partially labelled datasets train the heads
they can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.manifest import parse_defects, split_list
from data.taxonomy import Taxonomy
from serving.tasks import CLASSIFICATION_TASKS, ORDINAL_TASK, VISIBLE_IN

UNKNOWN = -1


@dataclass(frozen=True)
class Targets:
    """Column arrays, one entry per manifest row."""

    classes: dict[str, np.ndarray]  # task -> int64 class index or -1
    condition: np.ndarray  # int64 grade index (0 = A) of the photo's item, or -1
    evidence: np.ndarray  # int64 1/0: this photo shows a counterfeit cue; -1 unknown
    item_label: np.ndarray  # int64 1 counterfeit / 0 authentic / -1 unknown
    item_index: np.ndarray  # int64 dense item number, for grouping photos into items
    mask_known: np.ndarray  # bool: the defect mask is known (possibly all zero)
    cues: list[list[str]]  # cues visible per photo (for error analysis)
    cue_labels: np.ndarray  # int64 (N, cues) 1/0: the photo shows this cue; a row of -1 unknown


def _class_index(values: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, UNKNOWN) if isinstance(v, str) else UNKNOWN for v in values], np.int64)


def photo_evidence(row_authenticity: object, cues: object, item_cues: object) -> int:
    """1/0 when the photo's cue label is known, else -1.

    Known when the item is authentic (no cues anywhere) or its cues were recorded
    (synthetic data); a real counterfeit with only an item label gives -1, and the
    multiple-instance loss trains on it at item level instead.
    """
    if row_authenticity == "authentic":
        return 0
    if row_authenticity == "counterfeit" and split_list(item_cues):
        return int(bool(split_list(cues)))
    return UNKNOWN


def cue_labels(cues: list[list[str]], evidence: np.ndarray, cue_names: tuple[str, ...]) -> np.ndarray:
    """(N, cues): 1 where the photo shows the cue, 0 where it does not; rows whose evidence is
    unknown (a counterfeit without recorded cues) are all -1. A cue that the photo's view cannot
    show is a 0, not an unknown: learning that a stamp cue never shows on a buckle is free."""
    shown = np.array([[name in photo for name in cue_names] for photo in cues], np.int64).reshape(
        len(cues), len(cue_names)
    )
    return np.where((evidence >= 0)[:, None], shown, UNKNOWN)


def _visible(task: str, views: pd.Series, labels: np.ndarray) -> np.ndarray:
    """A label stays known only on photos whose view can show it (`VISIBLE_IN`)."""
    if task not in VISIBLE_IN:
        return labels
    return np.where(views.isin(VISIBLE_IN[task]).to_numpy(), labels, UNKNOWN)


def item_condition(condition: np.ndarray, item_index: np.ndarray) -> np.ndarray:
    """Each photo's item grade: the grade any photo of the item is labelled with (-1 if none).

    A grade is a property of the item; the manifest gives it on the views it applies to, and
    the condition loss trains on the item (the mean of all its photos' logits)."""
    best = np.full(int(item_index.max()) + 1 if len(item_index) else 0, UNKNOWN, np.int64)
    np.maximum.at(best, item_index, condition)
    return best[item_index]


def build_targets(frame: pd.DataFrame, taxonomy: Taxonomy) -> Targets:
    classes = {
        task: _visible(task, frame["view"], _class_index(frame[task], taxonomy.classes(task)))
        for task in CLASSIFICATION_TASKS
    }
    item_index = pd.factorize(frame["item_id"])[0].astype(np.int64)
    condition = item_condition(_class_index(frame[ORDINAL_TASK], taxonomy.classes(ORDINAL_TASK)), item_index)
    authenticity = frame["authenticity"].astype(object)
    evidence = np.array(
        [
            photo_evidence(a if isinstance(a, str) else None, c, ic)
            for a, c, ic in zip(authenticity, frame["cues"], frame["item_cues"], strict=True)
        ],
        np.int64,
    )
    item_label = _class_index(frame["authenticity"], taxonomy.classes("authenticity"))
    mask_known = np.array([parse_defects(v) is not None for v in frame["defects"]], bool)
    cues = [split_list(v) for v in frame["cues"]]
    return Targets(
        classes,
        condition,
        evidence,
        item_label,
        item_index,
        mask_known,
        cues,
        cue_labels(cues, evidence, taxonomy.cue_names),
    )
