"""Database tables (SQLAlchemy 2 declarative). Schema changes go through Alembic migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The person the key belongs to: review rules compare persons, not keys (serving.review).
    person: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 of the secret
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings; never enough to authenticate
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Appraisal(Base):
    __tablename__ = "appraisals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    client_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category: Mapped[str | None] = mapped_column(String(50), nullable=True)
    declared_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    ai_state: Mapped[str] = mapped_column(String(30), index=True)  # the dual-review verdict
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(30), index=True)  # a serving.review.ReviewStatus value
    final_state: Mapped[str | None] = mapped_column(String(30), nullable=True)  # the human decision
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full response body, as served
    photos: Mapped[list[Photo]] = relationship(back_populates="appraisal", order_by="Photo.position")


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appraisal_id: Mapped[str] = mapped_column(ForeignKey("appraisals.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1-based
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    view_given: Mapped[str | None] = mapped_column(String(20), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The evidence heatmap rendered when the photo was appraised (serving.heatmap), in the
    # photo store; None for appraisals made before heatmaps were stored.
    heatmap_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Its difference hash (serving.repeats.dhash): links repeated uploads of one item.
    dhash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    appraisal: Mapped[Appraisal] = relationship(back_populates="photos")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("appraisal_id", "reviewer_id", name="one_review_per_reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appraisal_id: Mapped[str] = mapped_column(ForeignKey("appraisals.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    stage: Mapped[str] = mapped_column(String(20))  # expert or arbiter
    decision: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601, as hashed
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
