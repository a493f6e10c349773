"""Who the caller is and what the upload form offers: what the web page needs to lay itself out."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from serving.api.deps import Caller, State

router = APIRouter(prefix="/v1", tags=["account"])


class MeOut(BaseModel):
    name: str
    role: str  # appraiser, expert, arbiter or admin


class FormOptions(BaseModel):
    views: list[str]  # the taxonomy's views, in order
    categories: list[str]
    required_views: list[str]  # the policy's: an item without them is UNABLE_TO_VERIFY
    max_photos: int
    max_file_bytes: int


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
    )
