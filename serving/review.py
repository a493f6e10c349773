"""Blind human double review and arbitration: the rules, as pure functions over stored facts.

- An item enters review when the AI verdict is not final: REFER_TO_EXPERT, or an AI verdict
  that is provisional because of its declared value. UNABLE_TO_VERIFY goes back to the
  appraiser for new photos instead.
- Two different experts review it blind. Neither may have uploaded it; nobody reviews an
  item twice. "Who" is a person, not a key: a person's keys (`api_keys.person`) count as
  one, so two expert keys of one person cannot give both reviews, and an expert key cannot
  review what the same person uploaded with an appraiser key. An admin key does not review.
  Agreeing reviews make their decision final; disagreeing ones send it to an
  arbiter, who has not reviewed or uploaded it, and whose decision (AUTHENTIC, COUNTERFEIT
  or INCONCLUSIVE) is final.
- Nobody sees another review, or who wrote it, before submitting their own.
- Before submitting, an expert or arbiter sees of an item only its photos and the findings
  that are not about authenticity (views, hardware, stamp, category, condition, defects): no
  AI verdict, score, reason or evidence map (`appraisal_access`). Reviewers see only the items
  in their queue or that they reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from secondlook.errors import SecondlookError
from serving.verdict import VerdictState

Access = Literal["full", "blind", "none"]


class _Value(str, Enum):
    """A str enum that prints as its value (like 3.11's StrEnum): in f-strings, messages, audit actions."""

    def __str__(self) -> str:
        return self.value


class ReviewStatus(_Value):
    """Where an appraisal stands (`appraisals.status`): stored and served as its value, and
    listed with its wording for the web page by /v1/form-options."""

    DECIDED = "decided"  # the AI verdict stands: nobody reviews it
    AWAITING_REVIEW = "awaiting_review"  # waiting for two blind expert reviews
    ARBITRATION = "arbitration"  # the experts disagreed: waiting for an arbiter
    FINAL = "final"  # decided by human review (`appraisals.final_state`)
    RETAKE_REQUESTED = "retake_requested"  # UNABLE_TO_VERIFY: waiting for new photos

    @property
    def label(self) -> str:
        """What the web page says of an item in this status."""
        return _STATUS_LABELS[self]

    @property
    def in_review(self) -> bool:
        """Experts or an arbiter have still to decide it."""
        return self in (ReviewStatus.AWAITING_REVIEW, ReviewStatus.ARBITRATION)


_STATUS_LABELS = {
    ReviewStatus.DECIDED: "Decided by the AI reviewers.",
    ReviewStatus.AWAITING_REVIEW: "Waiting for two independent expert reviews.",
    ReviewStatus.ARBITRATION: "The experts disagreed: waiting for an arbiter.",
    ReviewStatus.FINAL: "Final: decided by human review.",
    ReviewStatus.RETAKE_REQUESTED: "Waiting for new photos from the appraiser.",
}


class ReviewStage(_Value):
    """Which review a review is (`reviews.stage`): one of the two blind expert reviews, or the
    arbiter's after they disagreed."""

    EXPERT = "expert"
    ARBITER = "arbiter"


REVIEWER_ROLES = ("expert", "arbiter")  # the key roles that review (serving.store.keys.ROLES)
INCONCLUSIVE = "INCONCLUSIVE"  # the arbiter's third answer: not an AI verdict state
EXPERT_DECISIONS: tuple[str, ...] = (VerdictState.AUTHENTIC.value, VerdictState.COUNTERFEIT.value)
ARBITER_DECISIONS: tuple[str, ...] = (*EXPERT_DECISIONS, INCONCLUSIVE)


class ReviewRefused(SecondlookError, ValueError):
    """A review that the rules do not allow; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def initial_status(ai_state: str, provisional: bool) -> ReviewStatus:
    if ai_state == VerdictState.UNABLE_TO_VERIFY:
        return ReviewStatus.RETAKE_REQUESTED
    if ai_state in (VerdictState.AUTHENTIC, VerdictState.COUNTERFEIT) and not provisional:
        return ReviewStatus.DECIDED
    return ReviewStatus.AWAITING_REVIEW


@dataclass(frozen=True)
class ReviewFacts:
    status: ReviewStatus
    uploader: str  # the person who uploaded the item
    expert_reviews: tuple[tuple[str, str], ...]  # (reviewer's person, decision), in order
    arbiter: str | None = None


def queue_status(role: str) -> ReviewStatus:
    """The status of the items in a reviewer's queue."""
    return ReviewStatus.ARBITRATION if role == "arbiter" else ReviewStatus.AWAITING_REVIEW


def appraisal_access(role: str, caller: str, uploader: str, status: str, reviewed: bool) -> Access:
    """What a caller sees of an appraisal: all of it, the blind view of a reviewer who has not
    yet submitted (photos and findings that are not about authenticity), or nothing (404).
    `caller` and `uploader` are persons; `status` a ReviewStatus value, as stored; `reviewed`:
    the caller's person has reviewed it."""
    if role == "admin":
        return "full"
    if role == "appraiser":
        return "full" if caller == uploader else "none"
    if reviewed:
        return "full"
    if role in REVIEWER_ROLES and status == queue_status(role) and caller != uploader:
        return "blind"
    return "none"


def review_stage(role: str) -> ReviewStage:
    """Which review a caller of `role` gives."""
    return ReviewStage.ARBITER if role == "arbiter" else ReviewStage.EXPERT


def allowed_decisions(stage: ReviewStage) -> tuple[str, ...]:
    return ARBITER_DECISIONS if stage == ReviewStage.ARBITER else EXPERT_DECISIONS


def check_review(facts: ReviewFacts, reviewer: str, role: str, decision: str) -> ReviewStage:
    """The stage of the review `reviewer` (a person) gives with a key of `role`; raises
    ReviewRefused otherwise."""
    if role not in REVIEWER_ROLES:
        raise ReviewRefused(403, f"reviews are given with an expert or arbiter key; yours is {role}")
    if reviewer == facts.uploader:
        raise ReviewRefused(403, "you uploaded this item: someone else must review it")
    if reviewer in {r for r, _ in facts.expert_reviews} or reviewer == facts.arbiter:
        raise ReviewRefused(409, "you have already reviewed this item")
    if review_stage(role) == ReviewStage.ARBITER:
        if facts.status != ReviewStatus.ARBITRATION:
            raise ReviewRefused(409, f"this item is not awaiting arbitration (status {facts.status})")
        if decision not in ARBITER_DECISIONS:
            raise ReviewRefused(422, f"an arbiter decides {', '.join(ARBITER_DECISIONS)}")
        return ReviewStage.ARBITER
    if facts.status != ReviewStatus.AWAITING_REVIEW:
        raise ReviewRefused(409, f"this item is not awaiting expert review (status {facts.status})")
    if decision not in EXPERT_DECISIONS:
        raise ReviewRefused(422, f"an expert decides {' or '.join(EXPERT_DECISIONS)}")
    return ReviewStage.EXPERT


def after_review(facts: ReviewFacts, stage: ReviewStage, decision: str) -> tuple[ReviewStatus, str | None]:
    """(new status, final state or None) once a review at `stage` is recorded."""
    if stage == ReviewStage.ARBITER:
        return ReviewStatus.FINAL, decision
    decisions = [d for _, d in facts.expert_reviews] + [decision]
    if len(decisions) < 2:
        return ReviewStatus.AWAITING_REVIEW, None
    if decisions[0] == decisions[1]:
        return ReviewStatus.FINAL, decisions[0]
    return ReviewStatus.ARBITRATION, None
