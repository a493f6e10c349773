"""The one settings object of the service: environment variables with the SECONDLOOK_ prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.decode import DecodeLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECONDLOOK_", extra="forbid")

    database_url: str = "sqlite:///var/secondlook.db"
    photo_store: Path = Path("var/photos")
    models_dir: Path = Path("models")
    # reviewer name (as in the policy) -> bundle reference (NAME@ALIAS, NAME/VERSION or folder)
    reviewers: dict[str, str] = {"reviewer_a": "reviewer_a@champion", "reviewer_b": "reviewer_b@champion"}
    policy_path: Path = Path("configs/verdict.yaml")
    max_photos: int = Field(12, ge=1)
    max_file_bytes: int = Field(15 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(120 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(40_000_000, ge=1)
    uploads_per_minute: int = Field(60, ge=1)  # per API key
    inference_threads: int | None = None  # None: one per core
    batch_photos: int = Field(64, ge=1)  # concurrent uploads are judged together, up to this many photos

    def decode_limits(self) -> DecodeLimits:
        """The limits one photo is decoded under, for uploads and batch re-scoring alike."""
        return DecodeLimits(max_bytes=self.max_file_bytes, max_pixels=self.max_pixels)
