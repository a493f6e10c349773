"""What an appraiser is shown of the reviewers' opinion: by default the verdict, not its numbers.

The reviewers' scores, per-photo evidence and evidence maps tell someone probing the system
how close a photo came to passing; an appraiser who can retake and re-upload could steer by
them. So unless `Settings.appraiser_sees_scores` is set, an appraiser's view of their own
appraisal keeps the verdict, its reasons in words without numbers, the reviewers' decisions
and models, and every finding that is not about authenticity. Experts and arbiters see
everything once they have reviewed (serving.review.appraisal_access), admins always.

Pure: a stored response body in, the body to show out.
"""

from __future__ import annotations

from typing import Any


def for_appraiser(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without the reviewers' scores, per-photo evidence, heatmap URLs or numbers in reasons."""
    return {
        **body,
        "scores_withheld": True,
        "reasons": [
            {"code": r["code"], "message": r.get("public") or r["message"], "photo": r.get("photo")}
            for r in body.get("reasons", [])
        ],
        "reviewers": {
            name: {**reviewer, "score": None} for name, reviewer in body.get("reviewers", {}).items()
        },
        "photos": [{**photo, "evidence": {}, "heatmap_url": None} for photo in body.get("photos", [])],
    }
