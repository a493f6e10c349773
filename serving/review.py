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
from typing import Literal

Access = Literal["full", "blind", "none"]

EXPERT_DECISIONS = ("AUTHENTIC", "COUNTERFEIT")
ARBITER_DECISIONS = ("AUTHENTIC", "COUNTERFEIT", "INCONCLUSIVE")


class ReviewRefused(ValueError):
    """A review that the rules do not allow; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def initial_status(ai_state: str, provisional: bool) -> str:
    if ai_state == "UNABLE_TO_VERIFY":
        return "retake_requested"
    if ai_state in ("AUTHENTIC", "COUNTERFEIT") and not provisional:
        return "decided"
    return "awaiting_review"


@dataclass(frozen=True)
class ReviewFacts:
    status: str
    uploader: str  # the person who uploaded the item
    expert_reviews: tuple[tuple[str, str], ...]  # (reviewer's person, decision), in order
    arbiter: str | None = None


def queue_status(role: str) -> str:
    """The status of the items in a reviewer's queue."""
    return "arbitration" if role == "arbiter" else "awaiting_review"


def appraisal_access(role: str, caller: str, uploader: str, status: str, reviewed: bool) -> Access:
    """What a caller sees of an appraisal: all of it, the blind view of a reviewer who has not
    yet submitted (photos and findings that are not about authenticity), or nothing (404).
    `caller` and `uploader` are persons; `reviewed`: the caller's person has reviewed it."""
    if role == "admin":
        return "full"
    if role == "appraiser":
        return "full" if caller == uploader else "none"
    if reviewed:
        return "full"
    if role in ("expert", "arbiter") and status == queue_status(role) and caller != uploader:
        return "blind"
    return "none"


def review_stage(role: str) -> str:
    """Which review a caller of `role` gives: "arbiter" or "expert"."""
    return "arbiter" if role == "arbiter" else "expert"


def allowed_decisions(stage: str) -> tuple[str, ...]:
    return ARBITER_DECISIONS if stage == "arbiter" else EXPERT_DECISIONS


def check_review(facts: ReviewFacts, reviewer: str, role: str, decision: str) -> str:
    """The stage ("expert" or "arbiter") of the review `reviewer` (a person) gives with a key of
    `role`; raises ReviewRefused otherwise."""
    if role not in ("expert", "arbiter"):
        raise ReviewRefused(403, f"reviews are given with an expert or arbiter key; yours is {role}")
    if reviewer == facts.uploader:
        raise ReviewRefused(403, "you uploaded this item: someone else must review it")
    if reviewer in {r for r, _ in facts.expert_reviews} or reviewer == facts.arbiter:
        raise ReviewRefused(409, "you have already reviewed this item")
    if review_stage(role) == "arbiter":
        if facts.status != "arbitration":
            raise ReviewRefused(409, f"this item is not awaiting arbitration (status {facts.status})")
        if decision not in ARBITER_DECISIONS:
            raise ReviewRefused(422, f"an arbiter decides {', '.join(ARBITER_DECISIONS)}")
        return "arbiter"
    if facts.status != "awaiting_review":
        raise ReviewRefused(409, f"this item is not awaiting expert review (status {facts.status})")
    if decision not in EXPERT_DECISIONS:
        raise ReviewRefused(422, f"an expert decides {' or '.join(EXPERT_DECISIONS)}")
    return "expert"


def after_review(facts: ReviewFacts, stage: str, decision: str) -> tuple[str, str | None]:
    """(new status, final state or None) once a review at `stage` is recorded."""
    if stage == "arbiter":
        return "final", decision
    decisions = [d for _, d in facts.expert_reviews] + [decision]
    if len(decisions) < 2:
        return "awaiting_review", None
    if decisions[0] == decisions[1]:
        return "final", decisions[0]
    return "arbitration", None
