"""Blind expert review: the queue, submitting a review, and reading reviews afterwards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from serving.api.deps import State, require, reviewed_by, same_person
from serving.api.problems import Problem
from serving.api.schemas import UtcDateTime
from serving.review import (
    ReviewFacts,
    ReviewRefused,
    ReviewStage,
    ReviewStatus,
    after_review,
    allowed_decisions,
    check_review,
    queue_status,
    review_stage,
)
from serving.store import audit
from serving.store.db import reading, transaction
from serving.store.models import ApiKey, Appraisal, Review

router = APIRouter(tags=["review"])
Reviewer = Annotated[ApiKey, Depends(require("expert", "arbiter", admin=False))]  # reviews
Reader = Annotated[ApiKey, Depends(require("expert", "arbiter"))]  # reads reviews: admin too
QUEUE_LIMIT = 200  # items listed at once


class ReviewIn(BaseModel):
    decision: Literal["AUTHENTIC", "COUNTERFEIT", "INCONCLUSIVE"]  # serving.review.ARBITER_DECISIONS
    note: str | None = Field(None, max_length=2000)


class ReviewOut(BaseModel):
    appraisal_id: str
    stage: ReviewStage
    decision: str
    status: ReviewStatus
    final_state: str | None = None


class QueueItem(BaseModel):
    """An item to review: nothing of the AI's verdict (the review is blind)."""

    id: str
    created_at: UtcDateTime
    status: ReviewStatus
    category: str | None = None
    declared_value: float | None = None
    url: str
    decisions: list[str]  # what this caller may decide on this item


class ReviewSeen(BaseModel):
    stage: ReviewStage
    decision: str
    note: str | None
    reviewer: str  # the reviewer's key name, shown only once the caller has reviewed too


def _facts(session, row: Appraisal) -> tuple[ReviewFacts, list[Review], dict[int, str]]:
    """The review facts of an item (in persons), its reviews, and the person of each key involved."""
    reviews = list(session.scalars(select(Review).where(Review.appraisal_id == row.id).order_by(Review.id)))
    ids = {row.created_by, *(r.reviewer_id for r in reviews)}
    person = dict(session.execute(select(ApiKey.id, ApiKey.person).where(ApiKey.id.in_(ids))).tuples().all())
    experts = tuple((person[r.reviewer_id], r.decision) for r in reviews if r.stage == ReviewStage.EXPERT)
    arbiter = next((person[r.reviewer_id] for r in reviews if r.stage == ReviewStage.ARBITER), None)
    return ReviewFacts(ReviewStatus(row.status), person[row.created_by], experts, arbiter), reviews, person


@router.get("/v1/review-queue", response_model=list[QueueItem])
def review_queue(state: State, caller: Reviewer) -> list[dict[str, Any]]:
    """Items this caller may review now, oldest first (other reviews are never shown here).
    Items the caller's person uploaded or already reviewed (with any of their keys) are left
    out before the limit, so that the queue never looks empty while work waits."""
    query = (
        select(Appraisal)
        .where(
            Appraisal.status == queue_status(caller.role),
            Appraisal.created_by.not_in(same_person(caller)),
            Appraisal.id.not_in(reviewed_by(caller)),
        )
        .order_by(Appraisal.created_at)
        .limit(QUEUE_LIMIT)
    )
    with reading(state.sessions) as session:
        return [
            {
                "id": r.id,
                "created_at": r.created_at,
                "status": r.status,
                "category": r.category,
                "declared_value": r.declared_value,
                "url": f"/v1/appraisals/{r.id}",
                "decisions": list(allowed_decisions(review_stage(caller.role))),
            }
            for r in session.scalars(query)
        ]


@router.post("/v1/appraisals/{appraisal_id}/reviews", response_model=ReviewOut, status_code=201)
def submit_review(appraisal_id: str, review: ReviewIn, state: State, caller: Reviewer) -> dict[str, Any]:
    with transaction(state.sessions) as session:
        row = session.get(Appraisal, appraisal_id)
        if row is None:
            raise Problem(404, f"no appraisal {appraisal_id}", "not-found")
        facts, _, _ = _facts(session, row)
        try:
            stage = check_review(facts, caller.person, caller.role, review.decision)
        except ReviewRefused as exc:
            raise Problem(exc.status, str(exc), "review-refused") from None
        status, final = after_review(facts, stage, review.decision)
        session.add(
            Review(
                appraisal_id=row.id,
                reviewer_id=caller.id,
                stage=stage,
                decision=review.decision,
                note=review.note,
            )
        )
        row.status, row.final_state = status, final
        audit.append(
            session,
            f"key:{caller.id}",
            f"review.{stage}",
            row.id,
            {"decision": review.decision, "status": status, "final_state": final},
        )
        return {
            "appraisal_id": row.id,
            "stage": stage,
            "decision": review.decision,
            "status": status,
            "final_state": final,
        }


@router.get("/v1/appraisals/{appraisal_id}/reviews", response_model=list[ReviewSeen])
def list_reviews(appraisal_id: str, state: State, caller: Reader):
    """Reviews of an item, for those who have submitted their own (blind until then)."""
    with reading(state.sessions) as session:
        row = session.get(Appraisal, appraisal_id)
        if row is None:
            raise Problem(404, f"no appraisal {appraisal_id}", "not-found")
        _, reviews, person = _facts(session, row)
        if caller.role != "admin" and caller.person not in {person[r.reviewer_id] for r in reviews}:
            raise Problem(403, "reviews stay hidden until you have submitted your own", "blind-review")
        names = {k.id: k.name for k in session.scalars(select(ApiKey))}
        return [
            {
                "stage": r.stage,
                "decision": r.decision,
                "note": r.note,
                "reviewer": names.get(r.reviewer_id, "?"),
            }
            for r in reviews
        ]
