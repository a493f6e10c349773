"""Response bodies of the API (request bodies are multipart forms, declared in the routes).

`AppraisalResult` is the panel's answer for one item as stored with the appraisal and sent back
by POST; `AppraisalOut` adds what the store knows (status, creation time, the caller's form).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from serving.review import ReviewStatus

if TYPE_CHECKING:
    from serving.runner import PanelResult
    from serving.store.models import Appraisal


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; the API always answers RFC 3339 with an offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


UtcDateTime = Annotated[dt.datetime, AfterValidator(as_utc)]


class ReasonOut(BaseModel):
    code: str
    message: str
    photo: int | None = None


class StoredReason(ReasonOut):
    public: str | None = None  # the message without the reviewers' numbers (serving.api.disclosure)


class ReviewerOut(BaseModel):
    score: float | None  # calibrated P(counterfeit) of the item; None where withheld (serving.api.disclosure)
    decision: str | None  # authentic, counterfeit or unsure; None when the verdict stopped earlier
    model: dict[str, str]


class LabelOut(BaseModel):
    label: str
    confidence: float


class QualityOut(BaseModel):
    ok: bool
    problems: list[str]


class DefectOut(BaseModel):
    """A defect class seen on a photo: its strongest pixel score, its box and area (0..1)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    defect: str = Field(alias="class")
    score: float
    box: list[float]  # x0, y0, x1, y1
    area_share: float


class PhotoOut(BaseModel):
    index: int
    sha256: str
    view: str
    view_given: bool
    view_confidence: float
    labels: dict[str, LabelOut]
    evidence: dict[str, float]  # empty where withheld (serving.api.disclosure)
    defects: list[DefectOut]
    quality: QualityOut
    heatmap_url: str | None  # None where withheld


class BlindPhotoOut(BaseModel):
    """A photo as a reviewer sees it before submitting: no evidence score, no heatmap."""

    index: int
    view: str
    view_given: bool
    view_confidence: float
    labels: dict[str, LabelOut]
    defects: list[DefectOut]
    quality: QualityOut


class ConditionDefectOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    defect: str = Field(alias="class")
    photos: list[int]  # the photos showing it, by index


class ConditionOut(BaseModel):
    grade: str
    confidence: float
    defects: list[ConditionDefectOut]


class _Findings(BaseModel):
    """What stored results and answers share (they differ in what a reason carries)."""

    id: str
    state: str  # the AI verdict: AUTHENTIC, COUNTERFEIT, REFER_TO_EXPERT, UNABLE_TO_VERIFY
    provisional: bool
    reviewers: dict[str, ReviewerOut]
    photos: list[PhotoOut]
    condition: ConditionOut
    timings_ms: dict[str, float]


class AppraisalResult(_Findings):
    """The panel's answer for one item, as stored (`appraisals.result`)."""

    reasons: list[StoredReason]

    @classmethod
    def from_panel(cls, appraisal_id: str, result: PanelResult, digests: Sequence[str]) -> AppraisalResult:
        """`result` of `ReviewerPanel.appraise` for the photos with these sha256 digests, in order."""
        verdict = result.verdict
        return cls.model_validate(
            {
                "id": appraisal_id,
                "state": verdict.state.value,
                "provisional": verdict.provisional,
                "reasons": [
                    {"code": r.code, "message": r.message, "photo": r.photo, "public": r.public}
                    for r in verdict.reasons
                ],
                "reviewers": {
                    name: {
                        "score": score,
                        "decision": verdict.reviewer_decisions.get(name),
                        "model": result.models[name],
                    }
                    for name, score in result.item_scores.items()
                },
                "photos": [
                    {
                        "index": p.index,
                        "sha256": digests[p.index - 1],
                        "view": p.view,
                        "view_given": p.view_given,
                        "view_confidence": p.view_confidence,
                        "labels": p.labels,
                        "evidence": p.evidence,
                        "defects": p.defects,
                        "quality": {"ok": p.quality.ok, "problems": list(p.quality.problems)},
                        "heatmap_url": f"/v1/appraisals/{appraisal_id}/photos/{p.index}/heatmap",
                    }
                    for p in result.photos
                ],
                "condition": result.condition,
                "timings_ms": result.timings_ms,
            }
        )


class AppraisalOut(_Findings):
    """An appraisal as answered: the stored result and what the store knows of it."""

    reasons: list[ReasonOut]  # without the stored `public` form
    created_at: UtcDateTime
    status: ReviewStatus
    final_state: str | None = None
    client_reference: str | None = None
    category: str | None = None
    declared_value: float | None = None
    scores_withheld: bool = False  # an appraiser's view without the reviewers' numbers

    @classmethod
    def from_row(cls, row: Appraisal, result: AppraisalResult, withheld: bool) -> AppraisalOut:
        """The stored `row` with `result` (the stored one, or what the caller may see of it)."""
        return cls.model_validate(
            {
                **result.model_dump(),
                "created_at": row.created_at,
                "status": row.status,
                "final_state": row.final_state,
                "client_reference": row.client_reference,
                "category": row.category,
                "declared_value": row.declared_value,
                "scores_withheld": withheld,
            }
        )


class BlindAppraisalOut(BaseModel):
    """An appraisal as an expert or arbiter sees it before submitting their review
    (`serving.review.appraisal_access`): photos and the findings that are not about
    authenticity; no AI verdict, score, reason, evidence map or other review."""

    id: str
    created_at: UtcDateTime
    status: ReviewStatus
    blind: bool = True
    photos: list[BlindPhotoOut]
    condition: ConditionOut
    category: str | None = None
    declared_value: float | None = None


class HealthOut(BaseModel):
    status: str
    detail: dict[str, str] = {}
