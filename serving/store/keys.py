"""API keys: random secrets shown once, stored only as sha256, each with one role.

Creating and revoking a key are audited (`serving.store.audit`): who could act, and since when."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from secondlook.errors import InputError, SecondlookError
from serving.store import audit
from serving.store.models import ApiKey

ROLES = ("appraiser", "expert", "arbiter", "admin", "monitor")  # monitor: reads /metrics only
KEY_PREFIX = "sl_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class UnknownKey(SecondlookError, ValueError):
    """No key with that id."""


def create_key(
    session: Session, name: str, role: str, actor: str = "cli", person: str | None = None
) -> tuple[ApiKey, str]:
    """A new key for `person` (default: `name`); returns the row and the secret (the only
    time it is visible). Give every key of one person the same `person`: the review rules
    then treat them as one reviewer."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip():
        raise InputError("a key needs a name (who or what uses it)")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    owner = (person if person is not None else name).strip()
    if not owner:
        raise InputError("a key's person cannot be empty")
    row = ApiKey(name=name.strip(), person=owner, role=role, key_hash=hash_key(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor,
        "key.created",
        f"key:{row.id}",
        {"name": row.name, "role": role, "prefix": row.prefix, "person": row.person},
    )
    return row, secret


def revoke_key(session: Session, key_id: int, actor: str = "cli") -> ApiKey:
    """Revoke a key for good: it is refused from the next request on. Revoking twice is a no-op."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise UnknownKey(f"no API key {key_id}; `secondlook keys list` shows them")
    if not row.revoked:
        row.revoked = True
        audit.append(session, actor, "key.revoked", f"key:{row.id}", {"name": row.name, "role": row.role})
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def find_key(session: Session, secret: str) -> ApiKey | None:
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(secret))).first()
    return row if row is not None and not row.revoked else None
