"""Liveness and readiness (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from serving.api.deps import State
from serving.api.schemas import HealthOut
from serving.store.db import reading

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def readyz(state: State):
    detail = {}
    try:
        with reading(state.sessions) as session:
            session.execute(text("SELECT 1"))
        detail["database"] = "ok"
    except Exception as exc:
        detail["database"] = f"unreachable: {type(exc).__name__}"
    detail["models"] = "ok" if state.panel is not None else "not loaded"
    ready = all(v == "ok" for v in detail.values())
    body = HealthOut(status="ready" if ready else "not ready", detail=detail)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)
