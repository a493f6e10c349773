"""Response bodies of the API (request bodies are multipart forms, declared in the routes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; the API always answers RFC 3339 with an offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


UtcDateTime = Annotated[dt.datetime, AfterValidator(as_utc)]


class ReasonOut(BaseModel):
    code: str
    message: str
    photo: int | None = None


class ReviewerOut(BaseModel):
    score: float | None  # calibrated P(counterfeit) of the item; None where withheld (serving.disclosure)
    decision: str | None  # authentic, counterfeit or unsure; None when the verdict stopped earlier
    model: dict[str, str]


class LabelOut(BaseModel):
    label: str
    confidence: float


class QualityOut(BaseModel):
    ok: bool
    problems: list[str]


class PhotoOut(BaseModel):
    index: int
    sha256: str
    view: str
    view_given: bool
    view_confidence: float
    labels: dict[str, LabelOut]
    evidence: dict[str, float]  # empty where withheld (serving.disclosure)
    defects: list[dict]
    quality: QualityOut
    heatmap_url: str | None  # None where withheld


class BlindPhotoOut(BaseModel):
    """A photo as a reviewer sees it before submitting: no evidence score, no heatmap."""

    index: int
    view: str
    view_given: bool
    view_confidence: float
    labels: dict[str, LabelOut]
    defects: list[dict]
    quality: QualityOut


class ConditionOut(BaseModel):
    grade: str
    confidence: float
    defects: list[dict]


class AppraisalOut(BaseModel):
    id: str
    created_at: UtcDateTime
    state: str  # the AI verdict: AUTHENTIC, COUNTERFEIT, REFER_TO_EXPERT, UNABLE_TO_VERIFY
    provisional: bool
    status: str  # decided, awaiting_review, arbitration, final
    final_state: str | None = None
    reasons: list[ReasonOut]
    reviewers: dict[str, ReviewerOut]
    photos: list[PhotoOut]
    condition: ConditionOut
    client_reference: str | None = None
    category: str | None = None
    declared_value: float | None = None
    timings_ms: dict[str, float]
    scores_withheld: bool = False  # an appraiser's view without the reviewers' numbers


class BlindAppraisalOut(BaseModel):
    """An appraisal as an expert or arbiter sees it before submitting their review
    (`serving.review.appraisal_access`): photos and the findings that are not about
    authenticity; no AI verdict, score, reason, evidence map or other review."""

    id: str
    created_at: UtcDateTime
    status: str
    blind: bool = True
    photos: list[BlindPhotoOut]
    condition: ConditionOut
    category: str | None = None
    declared_value: float | None = None


class HealthOut(BaseModel):
    status: str
    detail: dict[str, str] = {}
