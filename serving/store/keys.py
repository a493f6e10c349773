"""API keys: random secrets shown once, stored only as sha256, each with one role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.models import ApiKey

ROLES = ("appraiser", "expert", "arbiter", "admin")
KEY_PREFIX = "sl_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str, role: str) -> tuple[ApiKey, str]:
    """A new key; returns the row and the secret (the only time it is visible)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip():
        raise ValueError("a key needs a name (who or what uses it)")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), role=role, key_hash=hash_key(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    return row, secret


def find_key(session: Session, secret: str) -> ApiKey | None:
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(secret))).first()
    return row if row is not None and not row.revoked else None
