"""POST /v1/appraisals (photos in, dual-review verdict out), GET one, and its heatmaps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from PIL import Image
from pydantic import BeforeValidator
from sqlalchemy import select

from data.decode import decode_image
from serving.api.deps import ServiceState, State, require, reviewed_by, same_person
from serving.api.disclosure import for_appraiser
from serving.api.forms import checked_view_tags
from serving.api.observability import Metrics
from serving.api.problems import Problem
from serving.api.schemas import AppraisalOut, AppraisalResult, BlindAppraisalOut, as_utc
from serving.api.uploads import decode_uploads
from serving.heatmap import heatmap_jpeg
from serving.repeats import Earlier, dhash, same_item, with_history
from serving.review import Access, appraisal_access
from serving.runner import PanelResult, ReviewerPanel
from serving.settings import Settings
from serving.store.appraisals import StoredPhoto, UploadForm, record_appraisal
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


def _shown(row: Appraisal, caller: ApiKey, settings: Settings) -> AppraisalOut:
    """The full appraisal, or an appraiser's view without the reviewers' numbers (serving.api.disclosure)."""
    result = AppraisalResult.model_validate(row.result)
    withheld = caller.role == "appraiser" and not settings.appraiser_sees_scores
    return AppraisalOut.from_row(row, for_appraiser(result) if withheld else result, withheld)


def _ready_panel(state: ServiceState) -> ReviewerPanel:
    if state.panel is None:
        raise Problem(503, "the reviewers are not loaded; see /readyz", "not-ready")
    return state.panel


def _judge(
    state: ServiceState,
    images: list[Image.Image],
    tags: list[str | None],
    form: UploadForm,
    linked: list[Earlier],
) -> PanelResult:
    """The panel's verdict on the photos (in a shared batch when batching), with their history."""
    panel = _ready_panel(state)
    appraise = state.batcher.appraise if state.batcher is not None else panel.appraise
    result = appraise(images, tags, form.declared_value, form.category)
    return dataclasses.replace(result, verdict=with_history(result.verdict, linked))


def _earlier(state: ServiceState, caller: ApiKey, hashes: list[str], reference: str | None) -> list[Earlier]:
    """Earlier appraisals of the same item within the repeat window (serving.repeats)."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=state.settings.repeat_window_days)
    with reading(state.sessions) as session:
        return same_item(hashes, earlier_appraisals(session, caller.person, reference, since))


def _store_heatmaps(state: ServiceState, images: list[Image.Image], result: PanelResult) -> list[str | None]:
    """Each photo's heatmap rendered now, at a bounded size, from the maps this inference made,
    and stored: a heatmap request then only reads a stored image."""
    return [
        state.photos.put(heatmap_jpeg(images[p.index - 1], p.evidence_map))
        if p.evidence_map is not None
        else None
        for p in result.photos
    ]


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
) -> AppraisalOut:
    """Photos in, the dual-review verdict out: checked, rate-limited, decoded, judged, stored."""
    settings = state.settings
    tags = checked_view_tags(_ready_panel(state).taxonomy, settings.max_photos, len(photos), views, category)
    retry = state.limiter.retry_after(caller.id)
    if retry is not None:
        raise Problem(429, "too many uploads with this key; slow down", "rate-limited", retry_after=retry)
    form = UploadForm(client_reference, category, declared_value)
    decoded = decode_uploads(photos, settings.decode_limits(), state.photos, state.decode_slots)
    hashes = [dhash(image) for image in decoded.images]
    linked = _earlier(state, caller, hashes, client_reference)
    result = _judge(state, decoded.images, tags, form, linked)
    metrics: Metrics = request.app.state.metrics
    metrics.observe_appraisal(result.verdict.state, result.timings_ms["inference_ms"])
    answer = AppraisalResult.from_panel(str(uuid.uuid4()), result, decoded.digests)
    heatmaps = _store_heatmaps(state, decoded.images, result)
    stored = [
        StoredPhoto(digest, width, height, photo_hash, tag, heatmap)
        for digest, (width, height), photo_hash, tag, heatmap in zip(
            decoded.digests, decoded.sizes, hashes, tags, heatmaps, strict=True
        )
    ]
    repeats = [e.appraisal_id for e in linked]
    with transaction(state.sessions) as session:
        row = record_appraisal(session, caller, answer, form, stored, result.models, repeats)
        return _shown(row, caller, settings)


@router.get("", response_model=list[AppraisalOut])
def list_appraisals(
    state: State,
    caller: Viewer,
    verdict: Annotated[VerdictState | None, Query()] = None,
    since: Annotated[IsoDateTime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[IsoDateTime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AppraisalOut]:
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
def get_appraisal(appraisal_id: str, state: State, caller: Viewer) -> AppraisalOut | BlindAppraisalOut:
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
