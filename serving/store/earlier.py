"""The earlier appraisals a new upload may repeat: the lookup behind serving.repeats."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.repeats import Earlier
from serving.store.models import ApiKey, Appraisal, Photo


def earlier_appraisals(
    session: Session, person: str, client_reference: str | None, since: dt.datetime
) -> list[Earlier]:
    """Appraisals since `since` with hashed photos (anyone's), and this person's with the same
    client reference. A scan of the window's hashes: fine for a shop's volume; a large
    deployment would index the hashes (multi-index hashing) instead."""
    rows = session.execute(
        select(Appraisal.id, Appraisal.ai_state, Photo.dhash)
        .join(Photo, Photo.appraisal_id == Appraisal.id)
        .where(Appraisal.created_at >= since, Photo.dhash.is_not(None))
        .order_by(Appraisal.created_at.desc())  # newest first: the reason names the latest ones
    )
    hashes: dict[str, list[str]] = defaultdict(list)
    states: dict[str, str] = {}
    for appraisal_id, state, digest in rows:
        if digest is not None:  # the query keeps only hashed photos; this tells the type checker
            hashes[appraisal_id].append(digest)
        states[appraisal_id] = state
    referenced: set[str] = set()
    if client_reference:
        mine = select(ApiKey.id).where(ApiKey.person == person)
        for appraisal_id, state in session.execute(
            select(Appraisal.id, Appraisal.ai_state).where(
                Appraisal.client_reference == client_reference, Appraisal.created_by.in_(mine)
            )
        ):
            referenced.add(appraisal_id)
            states[appraisal_id] = state
    return [
        Earlier(item, state, tuple(hashes.get(item, ())), item in referenced)
        for item, state in states.items()
    ]
