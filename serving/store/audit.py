"""The audit trail: an append-only, hash-chained log of every state change.

Entry n stores sha256(hash of entry n-1 + its own canonical content); the first entry
chains to 64 zeros. Editing, deleting or reordering any row breaks the chain from there on,
and `verify_chain` names the first entry that does not fit. Appends happen inside the
caller's transaction, which holds the database's write lock (see `db.transaction`), so two
writers can never chain onto the same entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.models import AuditEntry

GENESIS = "0" * 64


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, payload: str) -> str:
    content = _canonical(
        {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "payload": payload}
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def append(session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]) -> AuditEntry:
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq = (last.seq + 1) if last else 1
    prev_hash = last.hash if last else GENESIS
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    body = _canonical(payload)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        payload=body,
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, seq, at, actor, action, subject, body),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_bad: int | None  # seq (or position) of the first entry that does not fit
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify_entries(entries: Iterable[AuditEntry]) -> ChainReport:
    expected_prev, count = GENESIS, 0
    for position, entry in enumerate(entries, start=1):
        count = position
        if entry.seq != position:
            return ChainReport(count, entry.seq, f"entry {entry.seq} found where entry {position} belongs")
        if entry.prev_hash != expected_prev:
            return ChainReport(count, entry.seq, f"entry {entry.seq} does not chain to entry {position - 1}")
        recomputed = entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.payload
        )
        if recomputed != entry.hash:
            return ChainReport(count, entry.seq, f"entry {entry.seq} was altered (its hash does not match)")
        expected_prev = entry.hash
    return ChainReport(count, None, None)


def verify_chain(session: Session) -> ChainReport:
    return verify_entries(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
