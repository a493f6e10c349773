"""The state tables replayed against the audit chain: what `secondlook audit verify` adds to the chain check.

A verified chain proves the log was not rewritten; it says nothing of the tables the API
serves from. Whoever can write the database could set an appraisal's final state, delete a
review or raise a key's role without touching the log. Here the log is replayed into what
the tables must hold, and every difference is named:

- every appraisal has its `appraisal.created` entry, by the same key, with the same AI
  state, provisional flag and photos; its status and final state are what its last review
  entry left (or, with no review, what its AI verdict starts it at);
- its reviews are the review entries (reviewer key, stage, decision), no more, no fewer;
- every key has its `key.created` entry with the same role, prefix and person, and is
  revoked exactly when a `key.revoked` entry says so.

`compare` is pure (rows in, differences out); `reconcile` reads the rows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.review import initial_status
from serving.store.models import ApiKey, Appraisal, AuditEntry, Photo, Review


@dataclass
class Replayed:
    """What the log says one appraisal's rows hold."""

    actor: str
    ai_state: str
    provisional: bool
    photos: list[str]
    reviews: Counter
    status: str
    final_state: str | None


def replay(entries: Iterable[AuditEntry]) -> tuple[dict[str, Replayed], dict[str, dict], set[str]]:
    """(appraisals, keys as created, revoked keys) as the log has them."""
    appraisals: dict[str, Replayed] = {}
    keys: dict[str, dict] = {}
    revoked: set[str] = set()
    for entry in entries:
        payload = json.loads(entry.payload)
        if entry.action == "appraisal.created":
            state, provisional = payload["state"], bool(payload["provisional"])
            appraisals[entry.subject] = Replayed(
                entry.actor, state, provisional, list(payload["photos"]), Counter(),
                initial_status(state, provisional).value, None,
            )  # fmt: skip
        elif entry.action.startswith("review.") and entry.subject in appraisals:
            item = appraisals[entry.subject]
            item.reviews[(entry.actor, entry.action.removeprefix("review."), payload["decision"])] += 1
            item.status, item.final_state = payload["status"], payload["final_state"]
        elif entry.action == "key.created":
            keys[entry.subject] = payload
        elif entry.action == "key.revoked":
            revoked.add(entry.subject)
    return appraisals, keys, revoked


def compare(
    entries: Iterable[AuditEntry],
    appraisals: Iterable[Appraisal],
    photos: Iterable[Photo],
    reviews: Iterable[Review],
    keys: Iterable[ApiKey],
) -> list[str]:
    """Every difference between the tables and the replayed log, one line each."""
    logged, logged_keys, revoked = replay(entries)
    photo_digests: dict[str, list[str]] = defaultdict(list)
    for photo in sorted(photos, key=lambda p: (p.appraisal_id, p.position)):
        photo_digests[photo.appraisal_id].append(photo.sha256)
    review_rows: dict[str, Counter] = defaultdict(Counter)
    for review in reviews:
        review_rows[review.appraisal_id][(f"key:{review.reviewer_id}", review.stage, review.decision)] += 1

    problems = []
    rows = {row.id: row for row in appraisals}
    for appraisal_id, row in rows.items():
        expected = logged.get(appraisal_id)
        if expected is None:
            problems.append(f"appraisal {appraisal_id}: no appraisal.created entry")
            continue
        found = Replayed(
            f"key:{row.created_by}", row.ai_state, row.provisional, photo_digests[appraisal_id],
            review_rows[appraisal_id], row.status, row.final_state,
        )  # fmt: skip
        for field in ("actor", "ai_state", "provisional", "photos", "reviews", "status", "final_state"):
            if getattr(found, field) != getattr(expected, field):
                problems.append(
                    f"appraisal {appraisal_id}: {field} is {_short(getattr(found, field))} in the table, "
                    f"{_short(getattr(expected, field))} in the log"
                )
    problems += [f"appraisal {a}: in the log, not in the table" for a in logged if a not in rows]
    return problems + _compare_keys(logged_keys, revoked, keys)


def _compare_keys(logged: dict[str, dict], revoked: set[str], keys: Iterable[ApiKey]) -> list[str]:
    problems = []
    rows = {f"key:{row.id}": row for row in keys}
    for subject, row in rows.items():
        created = logged.get(subject)
        if created is None:
            problems.append(f"{subject}: no key.created entry")
            continue
        for field in ("role", "prefix", "person"):  # person: logged since key persons exist
            if field in created and created[field] != getattr(row, field):
                table, log = getattr(row, field), created[field]
                problems.append(f"{subject}: {field} is {table!r} in the table, {log!r} in the log")
        if row.revoked != (subject in revoked):
            state = "revoked" if row.revoked else "active"
            problems.append(f"{subject}: {state} in the table, not in the log")
    problems += [f"{k}: in the log, not in the table" for k in logged if k not in rows]
    return problems


def _short(value: object) -> str:
    text = repr(dict(value) if isinstance(value, Counter) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def reconcile(session: Session) -> list[str]:
    """`compare` on everything the database holds (read in one transaction)."""
    return compare(
        session.scalars(select(AuditEntry).order_by(AuditEntry.seq)),
        session.scalars(select(Appraisal)),
        session.scalars(select(Photo)),
        session.scalars(select(Review)),
        session.scalars(select(ApiKey)),
    )
