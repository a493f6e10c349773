"""Expert-final decisions as a labelled manifest, so that reviewed items can train the next reviewers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from data.manifest import write_manifest
from serving.review import ReviewStatus
from serving.store.db import reading
from serving.store.models import Appraisal
from serving.store.photos import PhotoStore
from serving.verdict import VerdictState


def reviewed_manifest(sessions: sessionmaker[Session], photos: PhotoStore) -> pd.DataFrame:
    """One row per photo of every item whose human decision is final and conclusive.

    The label is the experts' (or arbiter's) decision, never the AI's; views are the
    uploader's tags where given, else left empty (unknown) rather than the model's guess.
    """
    rows = []
    with reading(sessions) as session:
        finals = session.scalars(
            select(Appraisal)
            .where(
                Appraisal.status == ReviewStatus.FINAL,
                Appraisal.final_state.in_([VerdictState.AUTHENTIC, VerdictState.COUNTERFEIT]),
            )
            .order_by(Appraisal.created_at)
        )
        for appraisal in finals:
            label = (appraisal.final_state or "").lower()  # never empty: the query asks for one
            for photo in appraisal.photos:
                rows.append(
                    {
                        "photo_id": f"{appraisal.id}-{photo.position}",
                        "item_id": appraisal.id,
                        "image_path": str(photos.path(photo.sha256).resolve()),
                        "split": "",
                        "view": photo.view_given or "",
                        "category": appraisal.category or "",
                        "authenticity": label,
                        "declared_value": appraisal.declared_value,
                        "source": "expert_review",
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "photo_id",
            "item_id",
            "image_path",
            "split",
            "view",
            "category",
            "authenticity",
            "declared_value",
            "source",
        ],
    )


def export_reviewed(sessions: sessionmaker[Session], photos: PhotoStore, out: Path) -> int:
    frame = reviewed_manifest(sessions, photos)
    write_manifest(frame, out)
    return int(frame["item_id"].nunique()) if len(frame) else 0
