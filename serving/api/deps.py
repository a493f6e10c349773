"""Dependencies: the service state, the caller's key and role, the upload rate limit."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving.api.guard import KEY_SCOPE, authenticate, presented_key
from serving.api.problems import Problem
from serving.batcher import MicroBatcher
from serving.runner import ReviewerPanel
from serving.settings import Settings
from serving.store.models import ApiKey, Review
from serving.store.photos import PhotoStore


@dataclass
class RateLimiter:
    """At most `per_minute` events per key in any 60 s window (in memory, per process)."""

    per_minute: int
    events: dict[int, deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, key_id: int) -> int | None:
        now = time.monotonic()
        with self.lock:
            window = self.events.setdefault(key_id, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return int(60 - (now - window[0])) + 1
            window.append(now)
            return None


@dataclass
class ServiceState:
    settings: Settings
    sessions: sessionmaker[Session]
    photos: PhotoStore
    panel: ReviewerPanel | None
    limiter: RateLimiter
    # Requests decoding photos at once (serving.api.uploads): decoding is CPU and memory bound.
    decode_slots: threading.Semaphore
    batcher: MicroBatcher | None = None  # concurrent uploads share inference batches


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


# How a key is presented, as the OpenAPI document's security schemes (either one will do).
# They only document: `_caller` reads the headers itself, as the guard does.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer KEY")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey")


def _caller(
    request: Request,
    state: State,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    _api_key: Annotated[str | None, Security(API_KEY)] = None,
) -> ApiKey:
    checked = request.scope.get(KEY_SCOPE)  # requests with a body: checked before it was read
    if checked is not None:
        return checked
    presented = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    return authenticate(state.sessions, presented)


Caller = Annotated[ApiKey, Depends(_caller)]


def require(*roles: str, admin: bool = True):
    """A dependency that admits only callers whose role is one of `roles` (and admin, unless
    `admin=False`: an admin key does not act as an expert or arbiter)."""

    def check(key: Caller) -> ApiKey:
        if key.role not in roles and not (admin and key.role == "admin"):
            raise Problem(
                403, f"this needs the role {' or '.join(roles)}; your key is {key.role}", "forbidden"
            )
        return key

    return check


def same_person(key: ApiKey):
    """The ids of every key of `key`'s person, as a subquery: the review rules compare persons."""
    return select(ApiKey.id).where(ApiKey.person == key.person)


def reviewed_by(key: ApiKey):
    """The ids of the appraisals `key`'s person has reviewed (with any of their keys), as a subquery."""
    return select(Review.appraisal_id).where(Review.reviewer_id.in_(same_person(key)))
