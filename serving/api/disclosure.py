"""What an appraiser is shown of the reviewers' opinion: by default the verdict, not its numbers.

The reviewers' scores, per-photo evidence and evidence maps tell someone probing the system
how close a photo came to passing; an appraiser who can retake and re-upload could steer by
them. So unless `Settings.appraiser_sees_scores` is set, an appraiser's view of their own
appraisal keeps the verdict, its reasons in words without numbers, the reviewers' decisions
and models, and every finding that is not about authenticity. Experts and arbiters see
everything once they have reviewed (serving.review.appraisal_access), admins always.

Pure: a stored result in, the result to show out.
"""

from __future__ import annotations

from serving.api.schemas import AppraisalResult, ReviewerOut, StoredReason


def for_appraiser(result: AppraisalResult) -> AppraisalResult:
    """`result` without the reviewers' scores, per-photo evidence, heatmap URLs or numbers in reasons."""
    return result.model_copy(
        update={
            "reasons": [
                StoredReason(code=r.code, message=r.public or r.message, photo=r.photo)
                for r in result.reasons
            ],
            "reviewers": {
                name: ReviewerOut(score=None, decision=r.decision, model=r.model)
                for name, r in result.reviewers.items()
            },
            "photos": [p.model_copy(update={"evidence": {}, "heatmap_url": None}) for p in result.photos],
        }
    )
