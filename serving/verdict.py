"""The dual-review verdict: a pure function of calibrated scores and the policy.

States (docs/architecture.md, 'The verdict policy'):
- UNABLE_TO_VERIFY: a photo fails the quality gate or a required view is missing; the
  reasons say which photo to retake or add, and why. It is not a counterfeit verdict.
- AUTHENTIC / COUNTERFEIT: both reviewers agree, each beyond its own threshold.
- REFER_TO_EXPERT: anything else (disagreement, an unsure reviewer, an out-of-distribution
  photo, a policy rule).
- At or above the policy's declared value, an AI verdict is provisional until a human confirms.

No I/O here except `load_policy`; the API, `secondlook appraise`, batch re-scoring and
`secondlook policy evaluate` all call `decide`, so they cannot disagree. Policy fitting
(`serving.policy_fit.auto_decided`) applies the same reviewer thresholds to arrays of items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from secondlook.errors import SecondlookError
from secondlook.yamlfile import load_yaml, validation_message
from serving.quality import QualityReport, QualityThresholds


class VerdictState(str, Enum):
    AUTHENTIC = "AUTHENTIC"
    COUNTERFEIT = "COUNTERFEIT"
    REFER_TO_EXPERT = "REFER_TO_EXPERT"
    UNABLE_TO_VERIFY = "UNABLE_TO_VERIFY"


class PolicyError(SecondlookError, ValueError):
    """A verdict policy file that cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewerThresholds(_Section):
    """A reviewer decides AUTHENTIC at or below `authentic_at`, COUNTERFEIT at or above `counterfeit_at`."""

    authentic_at: float = Field(ge=0, le=1)
    counterfeit_at: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReviewerThresholds:
        if self.authentic_at >= self.counterfeit_at:
            raise ValueError("authentic_at must be below counterfeit_at")
        return self


class QualityPolicy(_Section):
    min_side_px: int = Field(256, ge=16)
    min_sharpness: float = Field(3.0, ge=0)
    min_brightness: float = Field(0.06, ge=0, le=1)
    max_brightness: float = Field(0.95, ge=0, le=1)
    max_clipped_share: float = Field(0.5, ge=0, le=1)

    def thresholds(self) -> QualityThresholds:
        return QualityThresholds(**self.model_dump())


class Policy(_Section):
    version: int = 1
    required_views: list[str] = ["overall", "stamp"]
    min_view_confidence: float = Field(0.5, ge=0, le=1)  # below: the photo looks out of distribution
    quality: QualityPolicy = QualityPolicy()
    reviewers: dict[str, ReviewerThresholds] = Field(min_length=2)  # dual review: two or more
    provisional_at_value: float | None = Field(5000.0, ge=0)  # None: never provisional
    # No declared value is an unknown value, not a low one: provisional too (with a threshold).
    provisional_without_value: bool = True
    refer_categories: list[str] = []  # a rule: always refer these categories to an expert
    fitted: dict[str, Any] | None = None  # data and model versions the thresholds were fitted on

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_policy(path: str | Path) -> Policy:
    raw = load_yaml(Path(path), PolicyError, what="verdict policy")
    try:
        return Policy(**(raw or {}))
    except ValidationError as exc:
        raise PolicyError(validation_message(exc, str(path))) from None


@dataclass(frozen=True)
class PhotoAssessment:
    """What the verdict needs to know about one photo."""

    index: int  # 1-based, as appraisers count photos
    view: str  # given by the uploader, else predicted
    view_given: bool
    view_confidence: float  # the reviewers' mean probability of `view`
    quality: QualityReport
    evidence: dict[str, float] = field(default_factory=dict)  # reviewer -> P(photo shows a cue)
    # What the reviewers see, whatever the uploader said: the policy trusts a tag only when
    # they do not confidently see another view. None: not known (the tag is taken as is).
    predicted_view: str | None = None
    predicted_confidence: float | None = None


def seen_view(photo: PhotoAssessment, policy: Policy) -> str:
    """The view a photo counts as: the reviewers' when they are confident, else the uploader's."""
    if photo.predicted_view is not None and (photo.predicted_confidence or 0.0) >= policy.min_view_confidence:
        return photo.predicted_view
    return photo.view


def _view_reasons(photos: Sequence[PhotoAssessment], policy: Policy) -> list[Reason]:
    """Photos whose tag the reviewers contradict, and photos that look like no known view."""
    reasons = []
    for photo in photos:
        known = photo.predicted_view is not None
        confidence = photo.predicted_confidence if known else photo.view_confidence
        if photo.view_given and known and seen_view(photo, policy) != photo.view:
            reasons.append(
                Reason(
                    "view_mismatch",
                    f"Photo {photo.index} was sent as {_view_words(photo.view)} but the reviewers see "
                    f"{_view_words(photo.predicted_view or '')} ({confidence:.0%}).",
                    photo.index,
                    f"Photo {photo.index} was sent as {_view_words(photo.view)} but the reviewers see "
                    f"{_view_words(photo.predicted_view or '')}.",
                )
            )
        elif (known or not photo.view_given) and (confidence or 0.0) < policy.min_view_confidence:
            best = photo.predicted_view if known else photo.view
            reasons.append(
                Reason(
                    "out_of_distribution",
                    f"Photo {photo.index} does not look like any view the reviewers know "
                    f"(best guess {best}, {confidence:.0%}).",
                    photo.index,
                    f"Photo {photo.index} does not look like any view the reviewers know.",
                )
            )
    return reasons


def _category_reasons(
    category: str | None, predicted: tuple[str, float] | None, policy: Policy
) -> list[Reason]:
    """A declared category the reviewers contradict, and the policy's always-refer categories
    (declared or seen)."""
    seen, confidence = predicted if predicted is not None else (None, 0.0)
    if confidence < policy.min_view_confidence:
        seen = None
    reasons = []
    if category is not None and seen is not None and seen != category:
        reasons.append(
            Reason(
                "category_mismatch",
                f"Declared a {category}; the reviewers see a {seen} ({confidence:.0%}).",
                public=f"Declared a {category}; the reviewers see a {seen}.",
            )
        )
    for name in dict.fromkeys(c for c in (category, seen) if c is not None):
        if name in policy.refer_categories:
            reasons.append(Reason("policy_rule", f"The policy sends every {name} to an expert."))
    return reasons


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for clients: e.g. "retake_photo", "reviewers_disagree"
    message: str  # plain words, for people
    photo: int | None = None
    # The same without the reviewers' scores and confidences, for those not shown them
    # (serving.api.disclosure); None: the message quotes none.
    public: str | None = None


@dataclass(frozen=True)
class Verdict:
    state: VerdictState
    reasons: tuple[Reason, ...]
    provisional: bool = False  # True: a human must confirm before the verdict stands
    reviewer_decisions: dict[str, str] = field(default_factory=dict)


def reviewer_decision(score: float, thresholds: ReviewerThresholds) -> str:
    """'counterfeit', 'authentic' or 'unsure' for one reviewer's item score."""
    if score >= thresholds.counterfeit_at:
        return "counterfeit"
    if score <= thresholds.authentic_at:
        return "authentic"
    return "unsure"


def _strongest_photo(photos: Sequence[PhotoAssessment], reviewer: str) -> PhotoAssessment | None:
    scored = [p for p in photos if reviewer in p.evidence]
    return max(scored, key=lambda p: p.evidence[reviewer]) if scored else None


def decide(
    photos: Sequence[PhotoAssessment],
    item_scores: dict[str, float],
    policy: Policy,
    declared_value: float | None = None,
    category: str | None = None,
    predicted_category: tuple[str, float] | None = None,
) -> Verdict:
    """The verdict for one item. `item_scores`: reviewer name -> calibrated P(counterfeit).

    What the uploader declares (view tags, category, value) can only add reasons for a human,
    never remove them: a tag counts only where the reviewers see the same view, a category
    they contradict refers, and a missing value is an unknown one."""
    reasons: list[Reason] = []
    for photo in photos:
        for problem in photo.quality.problems:
            reasons.append(Reason("retake_photo", f"Photo {photo.index} is {problem}.", photo.index))
    view_reasons = _view_reasons(photos, policy)
    present = {seen_view(p, policy) for p in photos if p.quality.ok}
    for view in policy.required_views:
        if view not in present:
            reasons.append(Reason("missing_view", f"No usable {_view_words(view)}: please add one."))
    if reasons:
        mismatches = [r for r in view_reasons if r.code == "view_mismatch"]
        return Verdict(VerdictState.UNABLE_TO_VERIFY, tuple(reasons + mismatches))

    decisions: dict[str, str] = {}
    for reviewer, thresholds in policy.reviewers.items():
        if reviewer not in item_scores:
            reasons.append(Reason("reviewer_missing", f"Reviewer {reviewer} gave no score."))
            continue
        decisions[reviewer] = reviewer_decision(item_scores[reviewer], thresholds)
    reasons += view_reasons
    reasons += _category_reasons(category, predicted_category, policy)
    for reviewer, decision in decisions.items():
        if decision == "unsure":
            strongest = _strongest_photo(photos, reviewer)
            where = f" (strongest evidence on photo {strongest.index})" if strongest else ""
            reasons.append(
                Reason(
                    "reviewer_unsure",
                    f"Reviewer {reviewer} is unsure: counterfeit probability "
                    f"{item_scores[reviewer]:.2f}{where}.",
                    strongest.index if strongest else None,
                    f"Reviewer {reviewer} is unsure.",
                )
            )
    firm = {d for d in decisions.values() if d != "unsure"}
    if not firm and not reasons:
        reasons.append(Reason("no_reviewer", "No reviewer gave a score."))
    if len(firm) == 2:
        summary = ", ".join(f"{r} says {d} ({item_scores[r]:.2f})" for r, d in decisions.items())
        message = f"The reviewers disagree: {summary}."
        reasons.append(Reason("reviewers_disagree", message, public="The reviewers disagree."))
    if reasons:
        return Verdict(VerdictState.REFER_TO_EXPERT, tuple(reasons), reviewer_decisions=decisions)

    agreed = next(iter(firm))
    state = VerdictState.COUNTERFEIT if agreed == "counterfeit" else VerdictState.AUTHENTIC
    summary = " and ".join(f"{r} ({item_scores[r]:.2f})" for r in decisions)
    reasons.append(
        Reason(
            "reviewers_agree",
            f"Both reviewers find it {agreed}: {summary}.",
            public=f"Both reviewers find it {agreed}.",
        )
    )
    escalation = _value_escalation(declared_value, policy)
    if escalation is not None:
        reasons.append(escalation)
    return Verdict(state, tuple(reasons), escalation is not None, decisions)


def _value_escalation(declared_value: float | None, policy: Policy) -> Reason | None:
    """Why an AI verdict is provisional because of the item's value; None when it is not."""
    threshold = policy.provisional_at_value
    if threshold is None:
        return None
    if declared_value is None:
        if not policy.provisional_without_value:
            return None
        return Reason(
            "value_unknown",
            "No declared value: the verdict is provisional until an expert confirms it.",
        )
    if declared_value < threshold:
        return None
    return Reason(
        "value_escalation",
        f"Declared value {declared_value:,.0f} is at or above {threshold:,.0f}: "
        "the verdict is provisional until an expert confirms it.",
    )


def _view_words(view: str) -> str:
    return {
        "overall": "overall photo of the item",
        "stamp": "close-up of the stamp",
        "hardware": "close-up of the hardware",
        "detail": "close-up of a wear area",
    }.get(view, f"{view} photo")
