"""`secondlook policy evaluate`: how the dual-review verdict does on held-out labelled items.

The per-reviewer reports (`secondlook evaluate`) judge each model; this judges what users
get: the whole panel (quality gate, required views, both reviewers, the fitted policy) run
item by item exactly as the API runs it, compared with the manifest's labels. Written as
files that `dvc metrics show` and `dvc plots show` read. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from data.atomic import atomic_path, atomic_write_text
from data.decode import decode_image
from data.manifest import read_manifest, resolve_image_path
from secondlook.errors import InputError
from serving.policy_fit import risk_coverage_table, risk_upper_bound
from serving.runner import PanelResult, ReviewerPanel
from serving.verdict import VerdictState

DECIDED = {VerdictState.AUTHENTIC.value: 0, VerdictState.COUNTERFEIT.value: 1}


@dataclass(frozen=True)
class ManifestItem:
    item_id: str
    photos: list[Path]
    views: list[str | None]
    label: str | None  # authentic | counterfeit, where the manifest says
    declared_value: float | None
    category: str | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def manifest_items(
    manifest: Path, split: str = "all", item_ids: Sequence[str] = (), labelled: bool = False
) -> Iterator[ManifestItem]:
    """A manifest's items (its photos grouped by item_id), optionally only those of one split,
    of the given ids (in that order) or with an authenticity label."""
    frame = read_manifest(manifest)
    if split != "all":
        frame = frame[frame["split"] == split]
    if labelled:
        frame = frame[frame["authenticity"].isin(["authentic", "counterfeit"])]
    groups = dict(list(frame.groupby(frame["item_id"].astype(str), sort=False)))
    missing = [i for i in item_ids if i not in groups]
    if missing:
        raise InputError(
            f"{manifest}: no item {missing[0]!r}{'' if split == 'all' else f' in split {split!r}'}"
        )
    if not groups:
        raise InputError(f"{manifest}: no {'labelled ' if labelled else ''}items in split {split!r}")
    for item_id in item_ids or list(groups):
        rows = groups[item_id]
        first = rows.iloc[0]
        value = pd.to_numeric(first.get("declared_value"), errors="coerce")
        yield ManifestItem(
            item_id=item_id,
            photos=[resolve_image_path(manifest, p) for p in rows["image_path"]],
            views=[_text(v) for v in rows.get("view", pd.Series([None] * len(rows)))],
            label=_text(first.get("authenticity")),
            declared_value=None if pd.isna(value) else float(value),
            category=_text(first.get("category")),
        )


def appraise_item(panel: ReviewerPanel, item: ManifestItem) -> PanelResult:
    return panel.appraise(
        [decode_image(p) for p in item.photos], item.views, item.declared_value, item.category
    )


def verdict_table(panel: ReviewerPanel, manifest: Path, split: str, progress: bool = True) -> pd.DataFrame:
    """One row per labelled item: its label, the panel's verdict state and each reviewer's score."""
    items = list(manifest_items(manifest, split, labelled=True))
    rows = []
    for item in tqdm(items, desc="verdicts", unit="item", disable=not progress):
        result = appraise_item(panel, item)
        rows.append(
            {
                "item_id": item.item_id,
                "label": item.label,
                "state": result.verdict.state.value,
                "provisional": result.verdict.provisional,
                **{f"p_counterfeit_{name}": score for name, score in result.item_scores.items()},
            }
        )
    return pd.DataFrame(rows)


def verdict_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """Coverage (share auto-decided), error among auto-decided items and its 95% upper bound,
    and the share of each verdict state."""
    n = len(table)
    decided = table[table["state"].isin(list(DECIDED))]
    wrong = int((decided["state"].map(DECIDED) != decided["label"].eq("counterfeit").astype(int)).sum())
    shares = table["state"].value_counts().reindex([s.value for s in VerdictState], fill_value=0) / n
    counterfeits = table["label"].eq("counterfeit")
    passed = int((counterfeits & table["state"].eq(VerdictState.AUTHENTIC.value)).sum())
    return {
        "items": n,
        "coverage": len(decided) / n,
        "error_auto_decided": wrong / len(decided) if len(decided) else None,
        "error_upper_95": risk_upper_bound(wrong, len(decided)),
        "auto_decided": len(decided),
        "wrong": wrong,
        # counterfeits the AI alone called authentic, of every counterfeit item
        "counterfeit_passthrough": passed / int(counterfeits.sum()) if counterfeits.any() else None,
        "counterfeit_passthrough_upper_95": risk_upper_bound(passed, int(counterfeits.sum())),
        "states": {state.lower(): float(share) for state, share in shares.items()},
    }


def write_evaluation(table: pd.DataFrame, out: Path) -> dict[str, Any]:
    """metrics.json, items.csv, confusion.csv (label x verdict, for `dvc plots`) and
    risk_coverage.csv (same confidence for every reviewer) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = verdict_metrics(table)
    scores = {
        c.removeprefix("p_counterfeit_"): table[c].to_numpy(float)
        for c in table.columns
        if c.startswith("p_counterfeit_")
    }
    labels = table["label"].eq("counterfeit").astype(int).to_numpy()
    for name, frame in {
        "items.csv": table,
        "confusion.csv": table[["label", "state"]].rename(columns={"label": "actual", "state": "verdict"}),
        "risk_coverage.csv": risk_coverage_table(scores, labels) if scores else pd.DataFrame(),
    }.items():
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=_plain) + "\n")
    return metrics


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
