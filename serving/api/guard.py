"""The request guard: a caller's key is checked, and a body's size bounded, before the body is read.

FastAPI reads and parses a request's body (a multipart form: every part spooled to disk)
before it resolves the route's dependencies, so a caller without a valid key could make the
server read and parse megabytes before the key check said 401. And a chunked request has no
Content-Length to check up front. This ASGI middleware therefore:

- looks the key up first, for every request that carries a body to the API (`/v1/...`), and
  answers 401 problem+json without reading a byte of it; the key it found reaches the
  `Caller` dependency through the request scope, so it is looked up once;
- answers 413 at once when a declared Content-Length is over the limit, and otherwise counts
  the bytes as they stream and stops the request with 413 as soon as they pass it.

(FastAPI's own `max_body_size` counts too, but its 413 for a declared length is plain text,
sent over whatever the app answers; the API answers every client mistake as problem+json.)
"""

from __future__ import annotations

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.problems import Problem, problem_response
from serving.store.db import reading
from serving.store.keys import find_key
from serving.store.models import ApiKey

KEY_SCOPE = "secondlook.api_key"  # the ApiKey row found for the request's key, once checked
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/v1/"


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The secret a caller sent: `Authorization: Bearer <key>` wins over `X-API-Key`."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return x_api_key or None


def authenticate(sessions: sessionmaker[Session] | None, secret: str | None) -> ApiKey:
    """The active key with this secret; a 401 Problem when there is none (the one check, for
    the guard and for the `Caller` dependency alike)."""
    if not secret:
        raise Problem(401, "an API key is required: send 'Authorization: Bearer <key>'", "unauthorized")
    key = None
    if sessions is not None:
        with reading(sessions) as session:
            key = find_key(session, secret)
    if key is None:
        raise Problem(401, "unknown or revoked API key", "unauthorized")
    return key


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the streamed body passes the limit; FastAPI lets an
    HTTPException raised while it reads the body through to the problem+json handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["method"] in BODY_METHODS and scope["path"].startswith(API_PREFIX):
            secret = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
            service = getattr(request.app.state, "service", None)  # None until start-up is done
            sessions = service.sessions if service is not None else None
            try:
                key = await to_thread.run_sync(authenticate, sessions, secret)
            except Problem as refused:
                await self._refuse(request, refused.status, refused.detail, refused.code, send)
                return
            scope[KEY_SCOPE] = key
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            detail = f"request body larger than {self.max_body_bytes} bytes"
            await self._refuse(request, 413, detail, "request-too-large", send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        return counted

    @staticmethod
    async def _refuse(request: Request, status: int, detail: str, code: str | None, send: Send) -> None:
        response = problem_response(request, status, detail, code)
        response.headers["Connection"] = "close"  # the unread body is not worth keeping the socket for
        await response(request.scope, request.receive, send)
