"""The OpenAPI document as a contract a generated client can rely on.

FastAPI documents each operation's success answer and a 422 in its own JSON shape. This
server answers every error as `application/problem+json` (RFC 9457) and can answer 400, 401,
403, 404, 409, 413, 429 and 503 too; a client generated from the document must know. Here
the document FastAPI builds is completed once, by rules that follow where each answer comes
from (the guard, the role check, path lookups, the review rules, the upload limits), and
`tests/integration/test_api_hardening.py` runs schemathesis (all phases, default checks) against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from serving.api.problems import PROBLEM_JSON
from serving.tasks import CATEGORY

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` is for people, `type` for machines.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
WHY = {
    400: "Malformed request (for a form: more files or fields than an appraisal has).",
    401: "No key, or an unknown or revoked one.",
    403: "The key's role may not do this (or, for a reviewer, not yet: blind review).",
    404: "No such item, or not one the caller may see.",
    409: "The item is not in a state that takes this review, or the caller reviewed it already.",
    413: "The body, or one photo, is over its size limit.",
    422: "A value the API does not accept; `errors` names each field.",
    429: "Too many uploads with this key; see Retry-After.",
    503: "The reviewers are not loaded yet.",
}
# Answers particular to one operation, beyond the rules in `error_statuses`.
PARTICULAR = {
    ("post", "/v1/appraisals"): (429, 503),
    ("post", "/v1/appraisals/{appraisal_id}/reviews"): (409,),
}


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error answers an operation can give, from where they come from."""
    statuses = {422}  # request validation, and bad values found by the route
    if operation.get("security"):
        statuses |= {401, 403}  # serving.api.guard / deps.require
    if "{" in path:
        statuses.add(404)
    if method == "post":
        statuses |= {400, 413}  # a body that does not parse; serving.api.guard counts every body
    return statuses | set(PARTICULAR.get((method, path), ()))


def _constrain_upload(
    document: dict[str, Any], max_photos: int, views: list[str], categories: list[str]
) -> None:
    """The upload form's limits and vocabularies, which the route enforces, stated in its schema."""
    form = document["components"]["schemas"].get("Body_create_appraisal_v1_appraisals_post")
    if form is None:
        return
    fields = form["properties"]
    # A form cannot send null: an optional field is one left out, so only its non-null type stays.
    for field in fields.values():
        kept = [choice for choice in field.get("anyOf", []) if choice.get("type") != "null"]
        if len(kept) == 1:
            del field["anyOf"]
            field.update(kept[0])
    form["additionalProperties"] = False  # other fields count against the form's field limit
    fields["photos"].update(minItems=1, maxItems=max_photos)
    fields["views"].update(maxItems=max_photos, items={"type": "string", "enum": views})
    fields["category"]["enum"] = categories


def complete(
    document: dict[str, Any], max_photos: int, views: list[str], categories: list[str]
) -> dict[str, Any]:
    """`document` with every operation's error answers declared as problem+json, and the
    upload form's limits and vocabularies."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    _constrain_upload(document, max_photos, views, categories)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, path, operation)):
                responses[str(status)] = {"description": WHY[status], "content": problem}
    document["components"]["schemas"].pop("HTTPValidationError", None)
    document["components"]["schemas"].pop("ValidationError", None)
    return document


def install(app: FastAPI, max_photos: int) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    from data.taxonomy import load_taxonomy

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            taxonomy = load_taxonomy()
            app.openapi_schema = complete(
                get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes),
                max_photos,
                list(taxonomy.view_names),
                list(taxonomy.classes(CATEGORY)),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
