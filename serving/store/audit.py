"""The audit trail: an append-only, hash-chained log of every state change.

Entry n stores HMAC-SHA256(key, hash of entry n-1 + its own canonical content); the first
entry chains to 64 zeros. The key lives outside the database (`Settings.audit_key`), so
whoever can write the database can still not edit an entry and re-chain the rest. Editing,
deleting or reordering any row breaks the chain from there on, and `verify_chain` names the
first entry that does not fit. Deleting the last entries is caught by the anchor
(`audit_anchor`), written after each commit that appends. Appends happen inside the
caller's transaction, which holds the database's write lock (see `db.transaction`), so two
writers can never chain onto the same entry.

The key and anchor travel with the session factory (`AuditConfig`, in the sessions' `info`),
so callers append with `append(session, ...)` alone. Sessions without one chain with plain
sha256 (the format before keys) and anchor nothing: the store's own tests use that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from serving.store.audit_anchor import Anchor, AnchorError, advance_anchor, read_anchor
from serving.store.models import AuditEntry

GENESIS = "0" * 64
CONFIG = "secondlook_audit"  # Session.info key: this factory's AuditConfig
HEAD = "secondlook_audit_head"  # Session.info key: (seq, hash) appended in this transaction
log = logging.getLogger("secondlook.audit")


@dataclass(frozen=True)
class AuditConfig:
    """How a deployment's chain is keyed and anchored; both kept outside the database."""

    key: bytes
    anchor: Path


def configure(factory: sessionmaker[Session], config: AuditConfig) -> sessionmaker[Session]:
    """Key the chain of `factory`'s sessions and anchor it after each commit that appends."""
    factory.configure(info={CONFIG: config})

    @event.listens_for(factory, "after_commit")
    def _anchor(session: Session) -> None:
        head = session.info.pop(HEAD, None)
        if head is not None:
            first, seq, digest = head
            try:
                advance_anchor(config.anchor, config.key, seq, digest, first_keyed=first)
            except (AnchorError, OSError) as exc:  # committed already: say so loudly, fail nothing
                log.error("audit anchor not advanced to entry %s: %s", seq, exc)

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(HEAD, None)

    return factory


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    prev_hash: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    payload: str,
    key: bytes | None = None,
) -> str:
    """HMAC-SHA256 with `key` of the previous hash and the entry's content; sha256 without a key."""
    content = _canonical(
        {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "payload": payload}
    )
    message = (prev_hash + content).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def append(session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]) -> AuditEntry:
    config: AuditConfig | None = session.info.get(CONFIG)
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
        hash=entry_hash(prev_hash, seq, at, actor, action, subject, body, config.key if config else None),
    )
    session.add(entry)
    session.flush()
    if config is not None:  # (first entry this transaction keyed, newest entry, its hash)
        first = session.info[HEAD][0] if HEAD in session.info else entry.seq
        session.info[HEAD] = (first, entry.seq, entry.hash)
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_bad: int | None  # seq (or position) of the first entry that does not fit
    problem: str | None
    anchored: int | None = None  # entries the anchor records, when there is one
    keyed_from: int | None = None  # the first entry hashed with the key

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def _misfit(entry: AuditEntry, position: int, expected_prev: str, key: bytes | None) -> str | None:
    """Why `entry` does not fit at `position` after `expected_prev`; None when it does."""
    if entry.seq != position:
        return f"entry {entry.seq} found where entry {position} belongs"
    if entry.prev_hash != expected_prev:
        return f"entry {entry.seq} does not chain to entry {position - 1}"
    recomputed = entry_hash(
        entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.payload, key
    )
    if not hmac.compare_digest(recomputed, entry.hash):
        return f"entry {entry.seq} was altered (its hash does not match)"
    return None


def verify_entries(
    entries: Iterable[AuditEntry], key: bytes | None = None, keyed_from: int | None = None
) -> tuple[ChainReport, dict[int, str]]:
    """The chain checked entry by entry (with `key` from entry `keyed_from` on), and its hashes."""
    expected_prev, count = GENESIS, 0
    hashes: dict[int, str] = {}
    for position, entry in enumerate(entries, start=1):
        count = position
        keyed = key is not None and keyed_from is not None and entry.seq >= keyed_from
        problem = _misfit(entry, position, expected_prev, key if keyed else None)
        if problem is not None:
            return ChainReport(count, entry.seq, problem), hashes
        expected_prev = entry.hash
        hashes[entry.seq] = entry.hash
    return ChainReport(count, None, None), hashes


def verify_chain(session: Session, config: AuditConfig | None = None) -> ChainReport:
    """The whole chain checked; with `config`, keyed entries with its key and against its anchor."""
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    if config is None:
        return verify_entries(entries)[0]
    try:
        anchor = read_anchor(config.anchor, config.key)
    except AnchorError as exc:
        return ChainReport(0, 0, str(exc))
    if anchor is None:
        count = len(entries.all())
        if count:
            problem = f"no audit anchor at {config.anchor}: truncation cannot be ruled out"
            return ChainReport(count, count, problem)
        return ChainReport(0, None, None)
    report, hashes = verify_entries(entries, config.key, anchor.keyed_from)
    if not report.ok:
        return report
    return _against_anchor(report, hashes, anchor)


def _against_anchor(report: ChainReport, hashes: dict[int, str], anchor: Anchor) -> ChainReport:
    if report.entries < anchor.entries:
        return ChainReport(
            report.entries,
            report.entries + 1,
            f"the chain ends at entry {report.entries} but its anchor records {anchor.entries}: "
            f"entries {report.entries + 1}-{anchor.entries} were deleted",
            anchor.entries,
            anchor.keyed_from,
        )
    if not hmac.compare_digest(hashes[anchor.entries], anchor.head):
        return ChainReport(
            report.entries,
            anchor.entries,
            f"entry {anchor.entries} is not the head its anchor records (the chain was rewritten)",
            anchor.entries,
            anchor.keyed_from,
        )
    return ChainReport(report.entries, None, None, anchor.entries, anchor.keyed_from)
