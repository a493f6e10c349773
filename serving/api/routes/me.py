"""Who the caller is, what the upload form offers and what an appraisal's status means: what the
web page needs to lay itself out."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from serving.api.deps import Caller, State
from serving.review import ReviewStatus

router = APIRouter(prefix="/v1", tags=["account"])


class MeOut(BaseModel):
    name: str
    role: str  # appraiser, expert, arbiter or admin


class StatusOption(BaseModel):
    """One review status (`serving.review.ReviewStatus`) as the page shows it."""

    value: ReviewStatus
    label: str  # what the page says of an item in this status
    in_review: bool  # experts or an arbiter have still to decide it


class FormOptions(BaseModel):
    views: list[str]  # the taxonomy's views, in order
    categories: list[str]
    required_views: list[str]  # the policy's: an item without them is UNABLE_TO_VERIFY
    max_photos: int
    max_file_bytes: int
    statuses: list[StatusOption]  # every status an appraisal can have, in order


@router.get("/me", response_model=MeOut)
def me(caller: Caller) -> MeOut:
    return MeOut(name=caller.name, role=caller.role)


@router.get("/form-options", response_model=FormOptions)
def form_options(state: State, caller: Caller) -> FormOptions:
    from data.taxonomy import load_taxonomy

    taxonomy = state.panel.taxonomy if state.panel is not None else load_taxonomy()
    policy = state.panel.policy if state.panel is not None else None
    return FormOptions(
        views=taxonomy.classes("view"),
        categories=taxonomy.classes("category"),
        required_views=list(policy.required_views) if policy else [],
        max_photos=state.settings.max_photos,
        max_file_bytes=state.settings.max_file_bytes,
        statuses=[StatusOption(value=s, label=s.label, in_review=s.in_review) for s in ReviewStatus],
    )
