"""One output row per item: the verdict, its reasons, scores per reviewer and per photo."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from serving.batch.prepare import ItemFailure, PreparedItem
from serving.runner import PanelResult, ReviewerPanel


def schema(reviewers: list[str]) -> pa.Schema:
    fields = [
        pa.field("item_id", pa.string()),
        pa.field("state", pa.string()),
        pa.field("provisional", pa.bool_()),
        pa.field("reasons", pa.string()),  # JSON list of {code, message, photo}
        *(pa.field(f"score_{r}", pa.float64()) for r in reviewers),
        pa.field("photo_sha256", pa.list_(pa.string())),
        pa.field("photo_view", pa.list_(pa.string())),
        pa.field("photo_quality_ok", pa.list_(pa.bool_())),
        *(pa.field(f"photo_evidence_{r}", pa.list_(pa.float64())) for r in reviewers),
        pa.field("condition_grade", pa.string()),
        pa.field("models", pa.string()),  # JSON {reviewer: {name, version, graph_sha256}}
    ]
    return pa.schema(fields)


def item_row(prepared: PreparedItem, appraisal: PanelResult) -> dict[str, Any]:
    verdict = appraisal.verdict
    reviewers = list(appraisal.item_scores)
    return {
        "item_id": prepared.item.item_id,
        "state": verdict.state.value,
        "provisional": verdict.provisional,
        "reasons": json.dumps(
            [{"code": r.code, "message": r.message, "photo": r.photo} for r in verdict.reasons]
        ),
        **{f"score_{r}": float(appraisal.item_scores[r]) for r in reviewers},
        "photo_sha256": list(prepared.sha256),
        "photo_view": [p.view for p in appraisal.photos],
        "photo_quality_ok": [p.quality.ok for p in appraisal.photos],
        **{f"photo_evidence_{r}": [p.evidence[r] for p in appraisal.photos] for r in reviewers},
        "condition_grade": appraisal.condition["grade"],
        "models": json.dumps(appraisal.models, sort_keys=True),
    }


def judged_rows(
    panel: ReviewerPanel, results: list[PreparedItem | ItemFailure], batch_size: int
) -> list[dict[str, Any] | ItemFailure]:
    """Each prepared item's row (its photos judged in shared batches); failures pass through."""
    prepared = [r for r in results if isinstance(r, PreparedItem)]
    judged = iter(panel.judge([r.request for r in prepared], batch_size) if prepared else [])
    return [r if isinstance(r, ItemFailure) else item_row(r, next(judged)) for r in results]
