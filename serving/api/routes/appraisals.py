"""POST /v1/appraisals (photos in, dual-review verdict out), GET one, and its heatmaps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from PIL import Image
from pydantic import BeforeValidator
from sqlalchemy import select

from data.decode import decode_image
from serving.api.deps import State, require, reviewed_by, same_person
from serving.api.problems import Problem
from serving.api.schemas import AppraisalOut, BlindAppraisalOut, as_utc
from serving.api.uploads import decode_uploads
from serving.disclosure import for_appraiser
from serving.heatmap import heatmap_jpeg
from serving.repeats import dhash, same_item, with_history
from serving.review import Access, appraisal_access, initial_status
from serving.runner import Appraisal as RunnerAppraisal
from serving.settings import Settings
from serving.store import audit
from serving.store.db import reading, transaction
from serving.store.earlier import earlier_appraisals
from serving.store.models import ApiKey, Appraisal, Photo, Review
from serving.verdict import VerdictState


def _iso_only(value: object) -> object:
    """A date-time as the schema says (ISO 8601), not a number pydantic would read as Unix time."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-01T00:00:00Z, not a number")
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]
router = APIRouter(prefix="/v1/appraisals", tags=["appraisals"])
Appraiser = Annotated[ApiKey, Depends(require("appraiser"))]
Viewer = Annotated[ApiKey, Depends(require("appraiser", "expert", "arbiter"))]
PRIVATE = {"Cache-Control": "private, max-age=3600"}  # photos are the caller's: never in shared caches
VIEW_MAX_SIDE = 4096  # a photo served for viewing: enough to zoom into a stamp, not 40 MP


def _body(appraisal_id: str, result: RunnerAppraisal, digests: list[str]) -> dict[str, Any]:
    verdict = result.verdict
    return {
        "id": appraisal_id,
        "state": verdict.state.value,
        "provisional": verdict.provisional,
        "reasons": [
            {
                "code": r.code,
                "message": r.message,
                "photo": r.photo,
                **({"public": r.public} if r.public else {}),
            }
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


def _blind(row: Appraisal) -> BlindAppraisalOut:
    """The reviewer's view before their own review: `BlindAppraisalOut` keeps only its fields."""
    return BlindAppraisalOut.model_validate(
        {
            **row.result,
            "created_at": row.created_at,
            "status": row.status,
            "category": row.category,
            "declared_value": row.declared_value,
        }
    )


def _shown(row: Appraisal, caller: ApiKey, settings: Settings) -> dict[str, Any]:
    """The full appraisal, or an appraiser's view without the reviewers' numbers (serving.disclosure)."""
    body = _out(row)
    if caller.role == "appraiser" and not settings.appraiser_sees_scores:
        return for_appraiser(body)
    return body


def _out(row: Appraisal) -> dict[str, Any]:
    return {
        **row.result,
        "created_at": row.created_at,
        "status": row.status,
        "final_state": row.final_state,
        "client_reference": row.client_reference,
        "category": row.category,
        "declared_value": row.declared_value,
    }


@router.post("", response_model=AppraisalOut, status_code=201)
def create_appraisal(
    request: Request,
    state: State,
    caller: Appraiser,
    photos: Annotated[list[UploadFile], File(description="1 to 12 photos (JPEG, PNG or WebP)")],
    views: Annotated[list[str] | None, Form(description="optional view per photo, in order")] = None,
    category: Annotated[str | None, Form()] = None,
    declared_value: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    client_reference: Annotated[str | None, Form(max_length=200)] = None,
) -> dict[str, Any]:
    settings = state.settings
    if state.panel is None:
        raise Problem(503, "the reviewers are not loaded; see /readyz", "not-ready")
    taxonomy = state.panel.taxonomy
    if not 1 <= len(photos) <= settings.max_photos:
        raise Problem(422, f"send 1 to {settings.max_photos} photos, not {len(photos)}", "photo-count")
    tags = [v.strip() or None for v in (views or [])]
    if len(tags) > len(photos):
        raise Problem(422, f"{len(tags)} view tags for {len(photos)} photos", "view-count")
    unknown = sorted({t for t in tags if t and t not in taxonomy.view_names})
    if unknown:
        raise Problem(
            422,
            f"unknown view {', '.join(unknown)}; use one of {', '.join(taxonomy.view_names)}",
            "unknown-view",
        )
    if category is not None and category not in taxonomy.classes("category"):
        raise Problem(
            422,
            f"unknown category {category!r}; use one of {', '.join(taxonomy.classes('category'))}",
            "category",
        )
    retry = state.limiter.retry_after(caller.id)
    if retry is not None:
        raise Problem(429, "too many uploads with this key; slow down", "rate-limited", retry_after=retry)
    decoded = decode_uploads(photos, settings.decode_limits(), state.photos, state.decode_slots)
    images, digests = decoded.images, decoded.digests
    hashes = [dhash(image) for image in images]
    with reading(state.sessions) as session:
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=settings.repeat_window_days)
        linked = same_item(hashes, earlier_appraisals(session, caller.person, client_reference, since))
    appraise = state.batcher.appraise if state.batcher is not None else state.panel.appraise
    result = appraise(images, tags, declared_value, category)
    result = dataclasses.replace(result, verdict=with_history(result.verdict, linked))
    metrics = request.app.state.metrics
    metrics.inference.observe(result.timings_ms["inference_ms"] / 1000)
    metrics.verdicts.labels(result.verdict.state.value).inc()
    appraisal_id = str(uuid.uuid4())
    # Heatmaps rendered now, at a bounded size, from the maps this inference made: a heatmap
    # request then only reads a stored image.
    heatmaps = [
        state.photos.put(heatmap_jpeg(images[p.index - 1], p.evidence_map))
        if p.evidence_map is not None
        else None
        for p in result.photos
    ]
    body = _body(appraisal_id, result, digests)
    with transaction(state.sessions) as session:
        row = Appraisal(
            id=appraisal_id,
            created_by=caller.id,
            client_reference=client_reference,
            category=category,
            declared_value=declared_value,
            ai_state=body["state"],
            provisional=body["provisional"],
            status=initial_status(body["state"], body["provisional"]),
            result=body,
        )
        session.add(row)
        for i, (digest, heatmap_digest, (width, height), photo_hash) in enumerate(
            zip(digests, heatmaps, decoded.sizes, hashes, strict=True), start=1
        ):
            session.add(
                Photo(
                    appraisal_id=appraisal_id,
                    position=i,
                    sha256=digest,
                    heatmap_sha256=heatmap_digest,
                    dhash=photo_hash,
                    view_given=tags[i - 1] if i <= len(tags) else None,
                    width=width,
                    height=height,
                )
            )
        audit.append(
            session,
            f"key:{caller.id}",
            "appraisal.created",
            appraisal_id,
            {
                "state": body["state"],
                "provisional": body["provisional"],
                "photos": digests,
                "models": result.models,
                "repeats": [e.appraisal_id for e in linked],
            },
        )
        session.flush()
        return _shown(row, caller, settings)


@router.get("", response_model=list[AppraisalOut])
def list_appraisals(
    state: State,
    caller: Viewer,
    verdict: Annotated[VerdictState | None, Query()] = None,
    since: Annotated[IsoDateTime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[IsoDateTime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    """Newest first. Appraisers see their own uploads, experts and arbiters the items they have
    reviewed (the others reach them blind, through the review queue), admins all."""
    query = select(Appraisal).order_by(Appraisal.created_at.desc()).limit(limit)
    if caller.role == "appraiser":
        query = query.where(Appraisal.created_by.in_(same_person(caller)))
    elif caller.role != "admin":
        query = query.where(Appraisal.id.in_(reviewed_by(caller)))
    if verdict is not None:
        query = query.where(Appraisal.ai_state == verdict.value)
    if since is not None:
        query = query.where(Appraisal.created_at >= as_utc(since))
    if until is not None:
        query = query.where(Appraisal.created_at < as_utc(until))
    with reading(state.sessions) as session:
        return [_shown(row, caller, state.settings) for row in session.scalars(query)]


def _load(state: State, appraisal_id: str, caller: ApiKey) -> tuple[Appraisal, Access]:
    """The appraisal and what the caller may see of it (`serving.review.appraisal_access`);
    404 when nothing, so that a caller cannot tell others' items from missing ones."""
    access: Access = "none"
    with reading(state.sessions) as session:
        row = session.get(Appraisal, appraisal_id)
        if row is not None:
            _ = row.photos  # load while the session is open
            mine = reviewed_by(caller).where(Review.appraisal_id == row.id)
            reviewed = session.scalar(mine.limit(1)) is not None
            uploader = session.get(ApiKey, row.created_by)
            person = uploader.person if uploader is not None else ""
            access = appraisal_access(caller.role, caller.person, person, row.status, reviewed)
    if row is None or access == "none":
        raise Problem(404, f"no appraisal {appraisal_id}", "not-found")
    return row, access


@router.get("/{appraisal_id}", response_model=AppraisalOut | BlindAppraisalOut)
def get_appraisal(appraisal_id: str, state: State, caller: Viewer) -> dict[str, Any] | BlindAppraisalOut:
    """The whole appraisal; an expert or arbiter who has not yet reviewed it gets the blind view."""
    row, access = _load(state, appraisal_id, caller)
    return _blind(row) if access == "blind" else _shown(row, caller, state.settings)


def _stored_photo(state: State, appraisal_id: str, index: int, caller: ApiKey) -> tuple[Photo, Access]:
    """The stored photo row `index` of an appraisal the caller may see, and how much of it."""
    row, access = _load(state, appraisal_id, caller)
    photo = next((p for p in row.photos if p.position == index), None)
    if photo is None:
        raise Problem(404, f"appraisal {appraisal_id} has no photo {index}", "not-found")
    return photo, access


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@router.get(
    "/{appraisal_id}/photos/{index}",
    responses={200: {"content": {"image/jpeg": {}}}},
    response_class=Response,
)
def photo(appraisal_id: str, index: int, state: State, caller: Viewer) -> Response:
    """The photo upright, RGB, as JPEG (what the web page shows and zooms into), at most
    VIEW_MAX_SIDE pixels a side: decoded in one of the decode slots, at a reduced scale."""
    stored, _ = _stored_photo(state, appraisal_id, index, caller)
    with state.decode_slots:
        image = decode_image(state.photos.get(stored.sha256), reduce_to=VIEW_MAX_SIDE // 2)
        image.thumbnail((VIEW_MAX_SIDE, VIEW_MAX_SIDE), Image.Resampling.BILINEAR, reducing_gap=3.0)
        body = _encoded(image, "JPEG")
    return Response(body, media_type="image/jpeg", headers=PRIVATE)


@router.get(
    "/{appraisal_id}/photos/{index}/heatmap",
    responses={200: {"content": {"image/jpeg": {}}}},
    response_class=Response,
)
def heatmap(appraisal_id: str, index: int, state: State, caller: Viewer) -> Response:
    """The photo with the reviewers' counterfeit-evidence map laid over it (red: evidence), as
    rendered when it was appraised (at most serving.heatmap.HEATMAP_MAX_SIDE pixels a side)."""
    stored, access = _stored_photo(state, appraisal_id, index, caller)
    if access == "blind":
        raise Problem(403, "the evidence map is shown once you have submitted your review", "blind-review")
    if caller.role == "appraiser" and not state.settings.appraiser_sees_scores:
        raise Problem(
            403, "evidence maps are shown to experts (SECONDLOOK_APPRAISER_SEES_SCORES)", "scores-withheld"
        )
    if stored.heatmap_sha256 is None:
        raise Problem(
            404,
            f"no heatmap was stored for photo {index} (appraised before heatmaps were stored)",
            "not-found",
        )
    return Response(state.photos.get(stored.heatmap_sha256), media_type="image/jpeg", headers=PRIVATE)
