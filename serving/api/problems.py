"""Errors as RFC 9457 problem details (application/problem+json), for every client mistake."""

from __future__ import annotations

import functools
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a route: becomes a problem+json response."""

    def __init__(self, status: int, detail: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.extra = status, detail, code, extra


def problem_response(
    request: Request,
    status: int,
    detail: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
):
    slug = code or HTTPStatus(status).phrase.lower().replace(" ", "-")
    body = {
        "type": f"https://secondlook.dev/problems/{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": str(request.url.path),
        **extra,
    }
    headers = dict(headers or {})
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def allowed_methods(request: Request, starlette_allow: str | None) -> str:
    """Every method the app answers on this request's path. Starlette's own 405 names only
    the methods of the first route that matched the path, and GET and POST of one path are
    often two routes; the OpenAPI document knows them all."""
    methods = {m.strip() for m in (starlette_allow or "").split(",") if m.strip()}
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _path_regex(template).fullmatch(request.url.path):
            methods |= {m.upper() for m in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


@functools.lru_cache(maxsize=256)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc.status, exc.detail, exc.code, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 413:  # serving.api.guard: the streamed body passed the limit
            return problem_response(request, 413, str(exc.detail), "request-too-large")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: say what is allowed, over every route of the path
            headers["Allow"] = allowed_methods(request, headers.get("Allow"))
        return problem_response(request, exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(request, 422, detail, "invalid-request", errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # a bug, not the client's fault
        return problem_response(request, 500, "internal error; it has been logged", "internal-error")
