"""Writing an appraisal: its row, its photos' rows and its audit entry, in the caller's transaction.

The route decides what to store; this module is the one place that knows how it is stored, as
full-stack-fastapi-template's `crud.py` is for its models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from serving.review import initial_status
from serving.store import audit
from serving.store.models import ApiKey, Appraisal, Photo

if TYPE_CHECKING:
    from serving.api.schemas import AppraisalResult


@dataclass(frozen=True)
class StoredPhoto:
    """One uploaded photo as the store keeps it (its bytes are in the photo store already)."""

    sha256: str
    width: int
    height: int
    dhash: str  # serving.repeats.dhash
    view_given: str | None = None
    heatmap_sha256: str | None = None


@dataclass(frozen=True)
class UploadForm:
    """What the appraiser declared with the photos."""

    client_reference: str | None = None
    category: str | None = None
    declared_value: float | None = None


def record_appraisal(
    session: Session,
    caller: ApiKey,
    result: AppraisalResult,
    form: UploadForm,
    photos: Sequence[StoredPhoto],
    models: dict[str, dict[str, str]],
    repeats: Sequence[str] = (),
) -> Appraisal:
    """Add the appraisal and its photos, and audit it (`repeats`: earlier appraisals it repeats)."""
    row = Appraisal(
        id=result.id,
        created_by=caller.id,
        client_reference=form.client_reference,
        category=form.category,
        declared_value=form.declared_value,
        ai_state=result.state,
        provisional=result.provisional,
        status=initial_status(result.state, result.provisional).value,
        result=result.model_dump(mode="json"),
    )
    session.add(row)
    for position, photo in enumerate(photos, start=1):
        session.add(
            Photo(
                appraisal_id=result.id,
                position=position,
                sha256=photo.sha256,
                heatmap_sha256=photo.heatmap_sha256,
                dhash=photo.dhash,
                view_given=photo.view_given,
                width=photo.width,
                height=photo.height,
            )
        )
    payload: dict[str, Any] = {
        "state": result.state,
        "provisional": result.provisional,
        "photos": [photo.sha256 for photo in photos],
        "models": models,
        "repeats": list(repeats),
    }
    audit.append(session, f"key:{caller.id}", "appraisal.created", result.id, payload)
    session.flush()
    return row
