"""The app in process (`TestClient(create_app(settings))`): real bundles and a real SQLite
database, no server process. For what the ASGI stack does, quicker than `test_api.py`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.settings import Settings
from serving.store.db import open_database, session_factory, transaction
from serving.store.keys import create_key
from tests.integration.service import item_photos, upload_files


def test_a_server_error_gets_a_request_id_a_log_line_and_a_metric(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="secondlook.api")
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/broken", headers={"X-Request-Id": "req-42"})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["x-request-id"] == "req-42"
        assert "a bug" not in response.text  # the client learns nothing of the bug
        with transaction(session_factory(open_database(settings.database_url))) as session:
            _, monitor = create_key(session, "prometheus", "monitor")
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {monitor}"}).text
    assert 'route="/v1/broken",status="500"' in metrics
    logged = [r.getMessage() for r in caplog.records if r.name == "secondlook.api"]
    assert any('"request_id": "req-42"' in m and '"status": 500' in m for m in logged)
    assert any("req-42" in m and "unhandled error" in m for m in logged)


def test_the_review_queue_skips_what_the_caller_cannot_review_before_its_limit(settings: Settings) -> None:
    """Items the expert uploaded or already reviewed are left out before the queue's limit: with
    more of them than the limit, the items still waiting for this expert must be listed."""
    import datetime as dt

    from serving.api.routes.reviews import QUEUE_LIMIT
    from serving.store.models import Appraisal, Review

    sessions = session_factory(open_database(settings.database_url, migrate=True))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with transaction(sessions) as session:
        uploader, _ = create_key(session, "shop", "appraiser")
        expert, secret = create_key(session, "expert", "expert")
        for n in range(QUEUE_LIMIT + 3):
            session.add(
                Appraisal(
                    id=f"item-{n:04d}",
                    created_at=start + dt.timedelta(minutes=n),
                    created_by=uploader.id,
                    ai_state="REFER_TO_EXPERT",
                    status="awaiting_review",
                    result={},
                )
            )
        session.flush()
        for n in range(QUEUE_LIMIT + 1):  # the oldest ones: reviewed by this expert, waiting for a second
            session.add(
                Review(
                    appraisal_id=f"item-{n:04d}", reviewer_id=expert.id, stage="expert", decision="AUTHENTIC"
                )
            )
    with TestClient(create_app(settings)) as client:
        queue = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {secret}"})
    assert queue.status_code == 200, queue.text
    assert [q["id"] for q in queue.json()] == [f"item-{n:04d}" for n in (QUEUE_LIMIT + 1, QUEUE_LIMIT + 2)]


def test_appraisers_get_the_verdict_without_the_reviewers_numbers_by_default(
    settings: Settings, tiny_manifest: Path
) -> None:
    """Scores, per-photo evidence and evidence maps would show someone probing the system how
    close a photo came to passing: withheld from appraisers unless the deployment says otherwise."""
    import re

    sessions = session_factory(open_database(settings.database_url, migrate=True))
    with transaction(sessions) as session:
        _, appraiser = create_key(session, "shop", "appraiser")
        _, admin = create_key(session, "ops", "admin")
    photos = item_photos(tiny_manifest)
    with TestClient(create_app(settings)) as client:
        as_appraiser = {"Authorization": f"Bearer {appraiser}"}
        upload = client.post(
            "/v1/appraisals",
            files=upload_files(photos),
            data={"views": [v for v, _ in photos]},
            headers=as_appraiser,
        )
        assert upload.status_code == 201, upload.text
        shown = upload.json()
        item = shown["id"]
        listed = client.get("/v1/appraisals", headers=as_appraiser).json()[0]
        heatmap = client.get(f"/v1/appraisals/{item}/photos/1/heatmap", headers=as_appraiser)
        full = client.get(f"/v1/appraisals/{item}", headers={"Authorization": f"Bearer {admin}"}).json()
    for body in (shown, listed):
        assert body["scores_withheld"] is True
        assert all(r["score"] is None and r["model"] for r in body["reviewers"].values())
        assert all(p["evidence"] == {} and p["heatmap_url"] is None for p in body["photos"])
        assert not any(re.search(r"\d\.\d|%", r["message"]) for r in body["reasons"]), body["reasons"]
        assert body["state"] == full["state"] and [r["code"] for r in body["reasons"]] == [
            r["code"] for r in full["reasons"]
        ]
    assert heatmap.status_code == 403 and heatmap.json()["type"].endswith("scores-withheld")
    assert full["scores_withheld"] is False
    assert all(isinstance(r["score"], float) for r in full["reviewers"].values())
    assert any(re.search(r"\d\.\d|%", r["message"]) for r in full["reasons"])  # the admin sees them
