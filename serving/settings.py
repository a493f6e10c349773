"""The one settings object of the service: environment variables with the SECONDLOOK_ prefix."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.decode import DecodeLimits
from secondlook.errors import InputError, SecondlookError
from secondlook.resources import config_path

if TYPE_CHECKING:
    from serving.store.audit import AuditConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECONDLOOK_", extra="forbid")

    database_url: str = "sqlite:///var/secondlook.db"
    photo_store: Path = Path("var/photos")
    models_dir: Path = Path("models")
    # reviewer name (as in the policy) -> bundle reference (NAME@ALIAS, NAME/VERSION or folder)
    reviewers: dict[str, str] = {"reviewer_a": "reviewer_a@champion", "reviewer_b": "reviewer_b@champion"}
    policy_path: Path = Field(default_factory=lambda: config_path("verdict.yaml"))
    max_photos: int = Field(12, ge=1)
    max_file_bytes: int = Field(15 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(120 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(40_000_000, ge=1)
    uploads_per_minute: int = Field(60, ge=1)  # per API key
    inference_threads: int | None = None  # None: one per core
    batch_photos: int = Field(64, ge=1)  # concurrent uploads are judged together, up to this many photos
    max_concurrent_decodes: int | None = Field(None, ge=1)  # requests decoding photos at once; None: cores
    repeat_window_days: int = Field(30, ge=0)  # earlier uploads of an item looked for this far back
    # Whether appraisers see the reviewers' scores, evidence and heatmaps (serving.api.disclosure).
    appraiser_sees_scores: bool = False
    # The audit chain's HMAC key and its anchor, both outside the database. Without a key, one
    # is made once in `audit_key_file`; both files default to beside a SQLite database (var/
    # for other databases). In production give the key from a secret store and keep the anchor
    # on storage the database's users cannot write.
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None
    audit_anchor: Path | None = None

    def decode_limits(self) -> DecodeLimits:
        """The limits one photo is decoded under, for uploads and batch re-scoring alike."""
        return DecodeLimits(max_bytes=self.max_file_bytes, max_pixels=self.max_pixels)

    def _audit_file(self, suffix: str) -> Path:
        if self.database_url.startswith("sqlite:///") and not self.database_url.endswith(":memory:"):
            database = Path(self.database_url.split("///", 1)[1])
            return database.with_name(database.name + suffix)
        tag = hashlib.sha256(self.database_url.encode()).hexdigest()[:12]
        return Path("var") / f"audit-{tag}{suffix}"

    def audit_config(self, create_key: bool = True) -> AuditConfig:
        """The audit chain's key and anchor; a missing key file is made (0600) when `create_key`."""
        from serving.store.audit import AuditConfig

        anchor = self.audit_anchor or self._audit_file(".audit-anchor.json")
        if self.audit_key is not None:
            return AuditConfig(self.audit_key.get_secret_value().encode(), anchor)
        key_file = self.audit_key_file or self._audit_file(".audit-key")
        if not key_file.exists() and create_key:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process made it first
                descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        try:
            key = key_file.read_text().strip().encode()
        except OSError as exc:
            raise InputError(
                f"no audit key: set SECONDLOOK_AUDIT_KEY or SECONDLOOK_AUDIT_KEY_FILE "
                f"({key_file}: {exc.strerror})"
            ) from None
        if len(key) < 16:
            raise InputError(f"audit key in {key_file} is too short (at least 16 characters)")
        return AuditConfig(key, anchor)


class SettingsError(SecondlookError, ValueError):
    """A SECONDLOOK_* environment variable that cannot be used."""


def load_settings() -> Settings:
    """The settings from the environment; wrong values are one SettingsError naming each variable."""
    try:
        return Settings()
    except ValidationError as exc:
        parts = [f"SECONDLOOK_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors() if e["loc"]]
        raise SettingsError("; ".join(parts) or str(exc)) from None
