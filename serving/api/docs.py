"""The interactive API documentation at /docs, served entirely from this origin.

FastAPI's default /docs and /redoc load Swagger UI from a CDN; a script from another origin
running on this one could read what the page can read. Here the Swagger UI 5 assets come
from the `fastapi-swagger` package, and a Content-Security-Policy allows only them and the one
inline script that starts them (by its hash)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
ASSETS = "/docs/assets"


def _inline_script_hashes(html: str) -> list[str]:
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts]


def docs_page(title: str, openapi_url: str) -> HTMLResponse:
    """Swagger UI on `openapi_url`, with its assets from ASSETS and a CSP that holds to them."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title}: API documentation",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
    html = bytes(page.body).decode()
    policy = (
        f"default-src 'none'; script-src 'self' {' '.join(_inline_script_hashes(html))}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(html, headers=headers)


def install(app: FastAPI) -> None:
    """/docs from local assets; without `fastapi-swagger`, no /docs (the OpenAPI document stays)."""
    try:
        import fastapi_swagger.resources as resources
    except ImportError:
        return
    folder = Path(resources.__file__).parent
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    app.add_api_route(DOCS, lambda: docs_page(app.title, openapi_url), include_in_schema=False)
